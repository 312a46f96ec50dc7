"""The ``tfgen`` command: one grammar, ``tfgen VERB [FAMILY] ...``, over the zoo's families.

::

    tfgen train iwae --dataset binarized_mnist --k 50 --out runs/iwae     # VERB FAMILY flags
    tfgen train vrnn --objective fivo --k 4 --out runs/fivo
    tfgen train infovae --method lagvae --e1 140 --e2 3 --out runs/lagvae
    tfgen train distortion --gamma 10 --out runs/dt_g10
    tfgen train sbn --config vimco200 --out runs/sbn_vimco          # binary latents, VIMCO
    tfgen evaluate runs/iwae --k 5000          # a run folder or a preset: its family is known
    tfgen sample iwae_binarized_mnist_k50_l1 --out grid.png
    tfgen list                                 # presets: shipped and yours ($TFGEN_HOME/presets)
    tfgen preset build runs/iwae --name my_iwae          # a run folder -> a preset
    tfgen preset upload my_iwae hf://me/presets@main     # -> the Hugging Face hub
    tfgen inpaint | denoise | latent | amortisation SOURCE   # uses of an image model (a run or a preset)
    tfgen tune iwae ... / tfgen figures distortion ...   # the verbs only some families have

Every ``train`` has the run driver's flags (:mod:`tfgen.runs`) with one meaning: ``--out``,
``--overwrite``, ``--resume``, ``--max-minutes``, ``--checkpoint-every``, ``--seed``,
``--verbose``. Exit status: 0 done, 2 bad input (one line on stderr, nothing written), 1 the
work failed (a diverged run, whose last good checkpoint is kept; no network for a download).

``train`` runs under the ``tf.distribute`` strategy of the environment (:mod:`tfgen.distribute`):
the same command trains on one device, on every GPU of a machine, or as one worker of several
when ``TF_CONFIG`` names a cluster (docs/distributed.md).

This module and the families' ``cli`` modules import no TensorFlow until a command runs, so
``--help`` answers at once.
"""
import argparse
import os
import sys

from zoo import applications_cli, families, presets_cli

FAMILY_VERBS = ("train", "tune", "figures")


def _family_help(family):
    first_line = (families.module(family, "cli").__doc__ or family).strip().splitlines()[0]
    return first_line.replace("``", "").rstrip(".")


def add_run_arguments(parser, family):
    """The run driver's flags, the same on every ``train``."""
    group = parser.add_argument_group("run")
    group.add_argument("--out", default=f"runs/{family}", help="run folder [default: %(default)s]")
    group.add_argument("--overwrite", action="store_true",
                       help="replace a run already in --out [default: refuse]")
    group.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest checkpoint, with its settings "
                            "[default: start a new run]")
    group.add_argument("--max-minutes", type=float, default=None,
                       help="stop after the first epoch that ends past this wall time; the run is then "
                            "recorded with status time_budget [default: no limit]")
    group.add_argument("--checkpoint-every", type=int, default=1,
                       help="checkpoint every N epochs (and after the last) [default: %(default)s]")
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the weights, the data order and the sampling noise "
                            "[default: %(default)s]")
    group.add_argument("--validation-size", type=int, default=1000,
                       help="examples scored after every epoch (val_* in the history and TensorBoard, "
                            "with pictures of their reconstructions): the dataset's validation split, or "
                            "for datasets without one the last N training examples (at most a tenth), held "
                            "out; 0 for none [default: %(default)s]")
    group.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                       help="Keras verbosity: 0 silent, 1 progress bars, 2 a line per epoch "
                            "[default: %(default)s]")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``tfgen train iwae: error: ... (see --help)``, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = Parser(
        prog="tfgen", description="Train, evaluate and sample the tfgen zoo's latent-variable models.",
        epilog="Families: " + "; ".join(f"{name}: {_family_help(name)}" for name in families.NAMES))
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in FAMILY_VERBS:
        having = [name for name in families.NAMES if verb in families.module(name, "cli").VERBS]
        verb_parser = verbs.add_parser(verb, help=f"{verb} a model of a family ({', '.join(having)})")
        family_parsers = verb_parser.add_subparsers(dest="family", required=True, metavar="FAMILY")
        for name in having:
            add_arguments, handler = families.module(name, "cli").VERBS[verb]
            sub = family_parsers.add_parser(name, help=_family_help(name), description=_family_help(name))
            add_arguments(sub)
            if verb == "train":
                add_run_arguments(sub, name)
            sub.set_defaults(handler=handler)
    presets_cli.register(verbs)
    applications_cli.register(verbs)
    evaluate = verbs.choices["evaluate"]
    for name in families.NAMES:
        add_evaluate_arguments = getattr(families.module(name, "cli"), "add_evaluate_arguments", None)
        if add_evaluate_arguments:
            add_evaluate_arguments(evaluate)
    return parser


def main(argv=None):
    """Run the command ``argv`` (default: the process's); return its exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help (0) or a flag argparse refuses (2, its message printed)
        return done.code
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines
    from tfgen.errors import DivergedError

    command = " ".join(filter(None, [args.verb, getattr(args, "family", None)]))
    try:
        from tfgen import distribute

        if args.verb == "train" and distribute.several_devices():
            with distribute.strategy().scope():
                args.handler(args)
        else:
            args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"tfgen {command}: error: {error}", file=sys.stderr)
        return 2
    except (DivergedError, ConnectionError) as error:  # the work failed (not the input)
        print(f"tfgen {command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
