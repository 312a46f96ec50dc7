"""``tfgen evaluate | sample | list | preset``: the verbs that take a run folder or a preset.

::

    tfgen evaluate runs/iwae --k 5000                          # a run folder, preset name, folder or URL
    tfgen sample iwae_digits_k5_l1 --num 64 --out grid.png
    tfgen sample vrnn_jsb_fivo_k4 --steps 64 --out roll.png    # a VRNN: one piano roll
    tfgen list
    tfgen preset runs/iwae --name iwae_binarized_mnist_k50_l1  # run folder -> zoo/presets/<name>

The model's family (:mod:`zoo.families`) says what its test figure is, on which data, and
how it samples, so these verbs work the same for every family.
"""
import os
import time


def register(verbs):
    """Add the verbs to ``verbs`` (the ``tfgen`` argparse subparsers)."""
    evaluate = verbs.add_parser("evaluate", help="re-estimate a run's or a preset's test figure")
    evaluate.add_argument("source", help="a run folder, or a preset name, folder or URL")
    evaluate.add_argument("--k", type=int, default=None,
                          help="importance samples [default: the family's: 5000 iwae, 1000 vrnn and infovae, "
                               "1 (the ELBO) distortion]")
    evaluate.add_argument("--split", default="test", help="the dataset split measured [default: %(default)s]")
    evaluate.add_argument("--batch-size", type=int, default=100,
                          help="examples per batch [default: %(default)s]")
    evaluate.add_argument("--every-nth", type=int, default=None,
                          help="only every N-th example of the split, a subset spread over the whole split "
                               "(keys get an _everyN suffix) [default: all]")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the importance samples [default: 0]")
    evaluate.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                          help="progress bar [default: %(default)s]")
    evaluate.set_defaults(handler=evaluate_command)

    sample = verbs.add_parser("sample", help="draw samples from a run or a preset into a PNG")
    sample.add_argument("source", help="a run folder, or a preset name, folder or URL")
    sample.add_argument("--num", type=int, default=None, help="samples [default: 64 images, 1 sequence]")
    sample.add_argument("--steps", type=int, default=None, help="steps of a sequence sample [default: 64]")
    sample.add_argument("--seed", type=int, default=None, help="seed of the samples [default: random]")
    sample.add_argument("--out", default="samples.png", help="the PNG written [default: %(default)s]")
    sample.add_argument("--scale", type=int, default=4,
                        help="screen pixels per image pixel [default: %(default)s]")
    sample.set_defaults(handler=sample_command)

    listing = verbs.add_parser("list", help="list the registered pretrained presets")
    listing.set_defaults(handler=list_command)

    preset = verbs.add_parser("preset", help="package a run folder as a registered preset")
    preset.add_argument("run", help="a run folder written by tfgen train")
    preset.add_argument("--name", required=True, help="the preset's name, e.g. iwae_digits_k5_l1 (required)")
    preset.add_argument("--k", type=int, default=None,
                        help="samples of the recorded test figure [default: the family's, as evaluate]")
    preset.add_argument("--description", default="",
                        help="one line saying what the preset is [default: empty]")
    preset.add_argument("--command", default=None, dest="train_command",
                        help="the command that trained the run [default: rebuilt from its settings]")
    preset.add_argument("--directory", default=None,
                        help="where preset folders go [default: the zoo's own presets folder]")
    preset.add_argument("--reuse-evaluation", action="store_true",
                        help="record the k-sample figure `tfgen evaluate RUN --k K` already measured "
                             "[default: measure it]")
    preset.add_argument("--seed", type=int, default=0, help="seed of the measurements [default: 0]")
    preset.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                        help="progress bars [default: 1]")
    preset.set_defaults(handler=preset_command)


def load_model(source):
    """``(model, settings, run_dir)``: a finished run folder (``run_dir`` set) or a preset (``None``)."""
    from tfgen import presets, runs
    from zoo import families
    from zoo import presets as zoo_presets

    if os.path.isdir(source) and not os.path.exists(os.path.join(source, presets.METADATA)):
        config_path = os.path.join(source, runs.CONFIG)
        if os.path.exists(config_path):  # register the family's model classes with Keras
            families.module(runs.read_json(config_path).get("family"), "model")
        model, settings = runs.load(source)
        return model, settings, source
    folder = presets.resolve(source)
    return zoo_presets.load(folder), zoo_presets.read_config(folder)["settings"], None


def evaluate_command(args):
    """The family's test figure (``{split}_log_likelihood_k{k}`` in its unit, with the family's
    other figures as ``..._{name}``), written into a run's metrics.json (never a preset's)."""
    from tfgen import objectives, runs
    from zoo import families

    model, settings, run_dir = load_model(args.source)
    family = families.of(model)
    k = objectives.check_k(family.default_k if args.k is None else args.k)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if getattr(args, "remove_inactive", False) and family.name != "iwae":
        raise ValueError(f"--remove-inactive is for the iwae family, not {family.name}.")
    if getattr(args, "remove_inactive", False) and model.config.posterior != "gaussian":
        raise ValueError("--remove-inactive needs a diagonal-Gaussian posterior, not a "
                         f"{model.config.posterior} flow (it mixes the units).")
    dataset = family.test_data(model, settings, args.split, args.batch_size)
    key = f"{args.split}_log_likelihood_k{k}"
    if args.every_nth is not None:
        if args.every_nth < 1:
            raise ValueError(f"--every-nth must be >= 1, got {args.every_nth}.")
        dataset = dataset.unbatch().shard(args.every_nth, 0).batch(args.batch_size)
        key += f"_every{args.every_nth}"
    start = time.time()
    figures = family.measure(model, dataset, k, seed=args.seed, verbose=args.verbose)
    value = figures.pop("log_likelihood")
    print(f"{args.split} log-likelihood (k = {k}): {value:.2f} {family.unit}")
    for name, figure in figures.items():
        print(f"  {name}: {figure:.4f}")
    figures = {key: value, f"{key}_seconds": round(time.time() - start, 1),
               **{f"{key}_{name}": figure for name, figure in figures.items()},
               **{f"{key}_{name}": figure for name, figure in family.evaluate(model, settings, dataset, k,
                                                                              args).items()}}
    if run_dir:  # a preset's folder is never written to
        runs.update_metrics(run_dir, **figures)
        print(f"-> {run_dir}/metrics.json")
    return value


def sample_command(args):
    import numpy as np

    from zoo import families

    for name in ("num", "steps", "scale"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}.")
    model, settings, _ = load_model(args.source)
    drawn = families.of(model).sample(model, settings, args.out, num=args.num, seed=args.seed,
                                      scale=args.scale, steps=args.steps)
    print(f"sample {np.shape(drawn)} -> {args.out}")
    return drawn


def list_command(args):
    from zoo import presets as zoo_presets

    rows = [("name", "family", "dataset", "k", "test figure (k)", "passes")]
    for name, meta in zoo_presets.available().items():
        ll = meta.get("test_log_likelihood")
        unit = meta.get("test_unit", "nats")
        suffix = "" if unit == "nats" else f" {unit}"  # image presets: nats per example, left implicit
        figure = "-" if ll is None else f"{ll:.2f} ({meta.get('test_k')}){suffix}"
        rows.append((name, str(meta.get("family")), str(meta.get("dataset")), str(meta.get("k")), figure,
                     str(meta.get("passes"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return rows[1:]


def preset_command(args):
    from zoo.presets import DIRECTORY, build

    return build.build(args.run, args.name, k=args.k, directory=args.directory or DIRECTORY,
                       description=args.description, command=args.train_command, verbose=args.verbose,
                       reuse_evaluation=args.reuse_evaluation, seed=args.seed)
