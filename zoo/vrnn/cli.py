"""VRNN (Chung et al. 2015) with ELBO, VAE_K, IWAE_K or FIVO: ``tfgen train vrnn``.

One command per row of docs/vrnn.md, e.g.::

    tfgen train vrnn --objective fivo --k 4 --epochs 60 --out runs/jsb_fivo_k4
    tfgen train vrnn --config maddison2017 --out runs/jsb_fivo_64      # the reference code's defaults
    tfgen train vrnn --config maddison2017 --eval-every 5 --patience 10 --epochs 500 --out runs/jsb_fivo_es
    tfgen evaluate runs/jsb_fivo_k4 --k 1000 --fivo-k 100               # IWAE_1000, FIVO_4 and FIVO_100
    tfgen sample runs/jsb_fivo_k4 --steps 64 --out roll.png             # or --out frames.npz --num 8

``--dataset`` is ``jsb`` (``$TFGEN_DATA_DIR/jsb_chorales.pickle``) or the path of an ``.npz``
with ``frames`` / ``lengths`` (see :mod:`tfgen.sequences`; ``--likelihood gaussian`` for
real-valued frames; an .npz run is evaluated on its own file). Figures are in nats per time
step; ``metrics.json`` gets ``test_log_likelihood_k{K}`` (IWAE_K) and
``test_log_likelihood_k{K}_{fivo_kN, elbo, total, ...}``.

``--eval-every N`` measures the training bound on the validation chorales every N epochs
(``val_fivo_k4_per_step`` for FIVO with 4 particles, ``val_iwae_k4_per_step``,
``val_elbo_per_step``; nats per time step, fixed noise); ``--patience P`` then stops after P
evaluations without improvement and keeps the best weights (:mod:`tfgen.runs`).
"""
import dataclasses

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.vrnn.configs import CONFIGS, TRAINING, VRNNConfig


def add_train_arguments(parser):
    parser.add_argument("--dataset", default="jsb",
                        help="jsb (JSB Chorales in $TFGEN_DATA_DIR) or the path of an .npz with frames "
                             "[n, T, D] and lengths [n] [default: %(default)s]")
    parser.add_argument("--epochs", type=int, default=50, help="passes over the training sequences "
                                                               "[default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sequences per step, batched by length [default: the --config's: "
                             + ", ".join(f"{name} {t['batch_size']}" for name, t in TRAINING.items()) + "]")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="Adam's rate [default: the --config's: "
                             + ", ".join(f"{name} {t['learning_rate']}" for name, t in TRAINING.items())
                             + "]")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="decoupled weight decay: each step shrinks every weight by learning rate x this "
                             "(keras.optimizers.AdamW; Loshchilov & Hutter 2019); 0 trains with Adam "
                             "[default: %(default)s]")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the training step with XLA (Keras' jit_compile=True; on a GPU Keras "
                             "uses XLA anyway). Under XLA every batch keeps the data's padded length and all "
                             "but the last hold --batch-size chorales, so XLA compiles two programs; "
                             "the loop stops at each batch's longest chorale (docs/benchmarks.md) "
                             "[default: Keras' auto, graph mode on a CPU]")
    parser.add_argument("--eval-k", type=int, default=1000,
                        help="importance samples of the final test log-likelihood estimate (IWAE_k per "
                             "step) [default: %(default)s]")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="measure the training bound on the validation split every N epochs, in nats "
                             "per time step [default: never]")
    parser.add_argument("--patience", type=int, default=None,
                        help="early stopping: stop after this many --eval-every evaluations without "
                             "improvement and keep the best weights [default: no early stopping]")
    tfgen_config.add_arguments(parser, VRNNConfig, CONFIGS)


def add_evaluate_arguments(parser):
    parser.add_argument("--fivo-k", type=int, default=None,
                        help="vrnn family: also the FIVO bound with this many particles; its memory "
                             "grows with particles x sequences per batch x steps, so lower "
                             "--batch-size for a large --fivo-k (on JSB, 1000 particles: about "
                             "1.9 GiB at --batch-size 8, 5 GiB at the default 100) [default: only "
                             "the model's k]")


def _check_args(args):
    """Validate the flags and fill the training defaults of the named configuration."""
    for name, value in TRAINING[args.config].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("epochs", "batch_size", "eval_k", "eval_every", "patience"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    tfgen_config.check_float("--weight-decay", args.weight_decay, 0.0)
    if args.patience is not None and args.eval_every is None:
        raise ValueError("--patience stops on the validation bound: give --eval-every N too.")


def validation_bound(model, args):
    """The callback that logs the model's training bound on the validation split every
    ``--eval-every`` epochs (nats per time step, seed ``--seed``), and the key it logs."""
    from tfgen import callbacks
    from zoo.vrnn.family import FAMILY
    from zoo.vrnn.model import HeldOutBounds

    validation = FAMILY.test_data(model, {"dataset": args.dataset}, "validation")
    iwae_k = model.k if model.config.objective == "iwae" else 0
    bound = {"fivo": f"fivo_k{model.k}", "iwae": f"iwae_k{model.k}"}.get(model.config.objective, "elbo")

    bounds = HeldOutBounds(model, iwae_k=iwae_k, seed=args.seed)  # traced once, not per evaluation

    def measure(model):
        figures = bounds(validation)
        return {f"{name}_per_step": figures[name] for name in figures
                if not name.endswith(("_total", "total_steps"))}

    return callbacks.PeriodicEvaluation(measure, args.eval_every, "val"), f"val_{bound}_per_step"


def train(args):
    """Train a VRNN through the run driver and measure its test figures; return the run's metrics."""
    _check_args(args)  # the flags first: a bad one is refused before TensorFlow loads
    import keras

    from tfgen import runs, sequences
    from zoo.vrnn.family import BUCKETS, FAMILY, load_arrays
    from zoo.vrnn.model import VRNN, paper_optimizer

    config = tfgen_config.from_arguments(args, VRNNConfig, CONFIGS)
    frames, lengths = load_arrays(args.dataset, "train")
    config = dataclasses.replace(config, input_dim=frames.shape[-1], seed=args.seed)
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    model = run.restore()
    if model is None:
        model = VRNN(**dataclasses.asdict(config))
        model.adapt(sequences.dataset(frames, lengths, batch_size=256))
        model.compile(optimizer=paper_optimizer(args.learning_rate, args.weight_decay),
                      jit_compile=True if args.jit_compile else "auto")
    elif args.jit_compile:  # a checkpoint from before the flag: its settings take it from the command
        model.jit_compile = True

    trim = not model.jit_compile  # under XLA, batches of one shape (tfgen.sequences.epoch_batches)

    def epochs_from(first):
        return sequences.epoch_batches(frames, lengths, args.batch_size, args.seed, first, args.epochs,
                                       buckets=BUCKETS, trim=trim)[0]

    steps = sequences.steps_per_epoch(lengths, args.batch_size, BUCKETS, trim)
    validation = None
    if args.validation_size and args.dataset == "jsb":  # an .npz has one split: nothing held out
        held = [array[:args.validation_size] for array in load_arrays(args.dataset, "validation")]
        validation = sequences.dataset(*held, batch_size=args.batch_size, buckets=BUCKETS, trim=trim)
    family_callbacks, monitor = [], None
    if args.eval_every:
        callback, key = validation_bound(model, args)
        family_callbacks.append(callback)
        monitor = key if args.patience else None
    run.fit(model, epochs_from, args.epochs, steps_per_epoch=steps, callbacks=family_callbacks,
            max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every, verbose=args.verbose,
            validation_data=validation, pictures=FAMILY.pictures_of(None, args.seed),
            monitor=monitor, patience=args.patience)

    test = FAMILY.test_data(model, settings, "test")
    figures = FAMILY.measure(model, test, args.eval_k, seed=args.seed)
    key = f"test_log_likelihood_k{args.eval_k}"
    ll = figures.pop("log_likelihood")
    metrics = run.finish(model, **{key: ll}, **{f"{key}_{name}": value for name, value in figures.items()},
                         dataset=args.dataset)
    print(f"test log-likelihood (k = {args.eval_k}): {ll:.3f} {FAMILY.unit}  -> {args.out}/metrics.json")
    return metrics


VERBS = {"train": (add_train_arguments, train)}
