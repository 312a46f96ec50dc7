"""VRNN (Chung et al. 2015) with ELBO, VAE_K, IWAE_K or FIVO: ``tfgen train vrnn``.

One command per row of docs/vrnn.md, e.g.::

    tfgen train vrnn --objective fivo --k 4 --epochs 60 --out runs/jsb_fivo_k4
    tfgen train vrnn --config maddison2017 --out runs/jsb_fivo_64      # the reference code's sizes
    tfgen evaluate runs/jsb_fivo_k4 --k 1000 --fivo-k 100               # IWAE_1000, FIVO_4 and FIVO_100
    tfgen sample runs/jsb_fivo_k4 --steps 64 --out roll.png             # or --out frames.npz --num 8

``--dataset`` is ``jsb`` (``$TFGEN_DATA_DIR/jsb_chorales.pickle``) or the path of an ``.npz``
with ``frames`` / ``lengths`` (see :mod:`tfgen.sequences`; ``--likelihood gaussian`` for
real-valued frames; an .npz run is evaluated on its own file). Figures are in nats per time
step; ``metrics.json`` gets ``test_log_likelihood_k{K}`` (IWAE_K) and
``test_log_likelihood_k{K}_{fivo_kN, elbo, total, ...}``.
"""
import dataclasses

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.vrnn.configs import CONFIGS, VRNNConfig


def add_train_arguments(parser):
    parser.add_argument("--dataset", default="jsb",
                        help="jsb (JSB Chorales in $TFGEN_DATA_DIR) or the path of an .npz with frames "
                             "[n, T, D] and lengths [n] [default: %(default)s]")
    parser.add_argument("--epochs", type=int, default=50, help="passes over the training sequences "
                                                               "[default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="sequences per step, batched by length [default: %(default)s]")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's rate [default: %(default)s; Maddison et al.'s code: 2e-4]")
    parser.add_argument("--eval-k", type=int, default=1000,
                        help="importance samples of the final test log-likelihood estimate (IWAE_k per "
                             "step) [default: %(default)s]")
    tfgen_config.add_arguments(parser, VRNNConfig, CONFIGS)


def add_evaluate_arguments(parser):
    parser.add_argument("--fivo-k", type=int, default=None,
                        help="vrnn family: also the FIVO bound with this many particles [default: only "
                             "the model's k]")


def _check_args(args):
    for name in ("epochs", "batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)


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
        model.compile(optimizer=paper_optimizer(args.learning_rate))

    def epochs_from(first):
        return sequences.epoch_batches(frames, lengths, args.batch_size, args.seed, first, args.epochs,
                                       buckets=BUCKETS)[0]

    steps = sequences.steps_per_epoch(lengths, args.batch_size, BUCKETS)
    validation = None
    if args.validation_size and args.dataset == "jsb":  # an .npz has one split: nothing held out
        held = [array[:args.validation_size] for array in load_arrays(args.dataset, "validation")]
        validation = sequences.dataset(*held, batch_size=args.batch_size, buckets=BUCKETS)
    run.fit(model, epochs_from, args.epochs, steps_per_epoch=steps, max_minutes=args.max_minutes,
            checkpoint_every=args.checkpoint_every, verbose=args.verbose, validation_data=validation,
            pictures=FAMILY.pictures_of(None, args.seed))

    test = FAMILY.test_data(model, settings, "test")
    figures = FAMILY.measure(model, test, args.eval_k, seed=args.seed)
    key = f"test_log_likelihood_k{args.eval_k}"
    ll = figures.pop("log_likelihood")
    metrics = run.finish(model, **{key: ll}, **{f"{key}_{name}": value for name, value in figures.items()},
                         dataset=args.dataset)
    print(f"test log-likelihood (k = {args.eval_k}): {ll:.3f} {FAMILY.unit}  -> {args.out}/metrics.json")
    return metrics


VERBS = {"train": (add_train_arguments, train)}
