"""Distortion-targeted VAEs, two-stage training ("Mind Your Bits and Errors", an ICLR 2021 submission).

::

    tfgen train distortion --dataset fashion_mnist --gamma 10 --out runs/dt_g10
    tfgen train distortion --primary runs/dt_g40 --gamma 20 --out runs/dt_g40_s20     # two-stage (sec. 4)
    tfgen train distortion --dataset svhn --config svhn --gamma 8 --epochs 200 --out runs/svhn_g8
    tfgen train distortion --dataset celeb_a --image-size 32 --config cpu32 --gamma 10 --out runs/celeba32
    tfgen figures distortion --primaries runs/dt_g5 runs/dt_g10 --two-stage runs/dt_g40_s20 --out docs/figures

The source is "Mind Your Bits and Errors: Prioritizing the Bits that Matter in Variational
Autoencoders" (anonymous ICLR 2021 submission). Training goes through the run driver
(:class:`tfgen.runs.Run`: checkpoints with both optimizers, ``--resume``, ``--max-minutes``,
the NaN stop). Datasets with local files or small enough for memory (``fashion_mnist``,
``mnist``, ``digits``, ...) are held as uint8 arrays and shuffled per epoch by
:func:`tfgen.data.epoch_batches`, so ``--resume`` gives exactly the weights of an
uninterrupted run; the TFDS-only datasets (``svhn``, ``celeb_a``) are streamed
(:func:`tfgen.data.stream`), and a resumed stream does not repeat the shuffle order the
interrupted run would have seen. ``metrics.json`` records the test ELBO and its parts
(:mod:`zoo.distortion.family`).
"""
import dataclasses
import math

from tfgen import config as tfgen_config
from zoo.distortion.configs import CONFIGS, DistortionConfig
from zoo.families import settings_of


def add_train_arguments(parser):
    parser.add_argument("--dataset", default="fashion_mnist",
                        help="a tfgen.data dataset of grey or colour images: fashion_mnist, mnist, digits "
                             "(held in memory), svhn, celeb_a (streamed from TFDS) [default: %(default)s]")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side of the square images trained on (antialiased resize) [default: the "
                             "dataset's; celeb_a 64]")
    parser.add_argument("--primary", default=None,
                        help="a finished primary run: train a SecondaryVAE on top of it (two-stage "
                             "training); the architecture is the primary's, --gamma must be below its gamma "
                             "[default: none]")
    parser.add_argument("--init", default=None,
                        help="a finished run of the same architecture whose weights (and lambda) training "
                             "starts from, with fresh optimizers [default: none]")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training images: a random subset (seeded by --seed) of data held in memory, "
                             "the first images of a TFDS split [default: all]")
    parser.add_argument("--test-size", type=int, default=None,
                        help="test images measured: a random subset (seeded by --seed + 1) or the first "
                             "images of a TFDS split [default: all]")
    parser.add_argument("--epochs", type=int, default=10,
                        help="passes over the training images [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step [default: %(default)s]")
    parser.add_argument("--learning-rate", type=float, default=2e-4,
                        help="the model's Adam rate (app. B.3: 2e-4) [default: %(default)s]")
    parser.add_argument("--dual-learning-rate", type=float, default=2e-4,
                        help="lambda's Adam rate, beta_1 = 0 (app. B.3: 2e-4) [default: %(default)s]")
    parser.add_argument("--clipnorm", type=float, default=None,
                        help="global gradient-norm clipping of the model's step (our addition) "
                             "[default: off]")
    tfgen_config.add_arguments(parser, DistortionConfig, CONFIGS, skip=("image_shape",))


def _check_args(args):
    for name in ("epochs", "batch_size", "train_size", "test_size", "image_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    tfgen_config.check_float("--dual-learning-rate", args.dual_learning_rate, 0.0, strict=True)
    if args.clipnorm is not None:
        tfgen_config.check_float("--clipnorm", args.clipnorm, 0.0, strict=True)


def _load_run(path, what):
    """The model of the finished run ``path``; ``ValueError`` unless it is a distortion model."""
    from tfgen import runs
    from zoo.distortion.model import TopDownVAE

    model, _ = runs.load(path)
    if not isinstance(model, TopDownVAE):
        raise ValueError(f"{what} {path} holds a {type(model).__name__}, not a distortion-targeted VAE.")
    return model


def _config(args, shape, primary):
    """The model's config from the flags and the data's image ``shape``: the named
    configuration (``--config``), or the primary's architecture for a secondary VAE."""
    flags = {f.name: getattr(args, f"model_{f.name}") for f in dataclasses.fields(DistortionConfig)
             if getattr(args, f"model_{f.name}", None) is not None}
    if primary is not None:
        if primary.config.image_shape != shape:
            raise ValueError(f"The primary {args.primary} models {primary.config.image_shape} images, the "
                             f"data are {shape}: pass --image-size {primary.config.image_shape[0]}.")
        config = DistortionConfig(**{**dataclasses.asdict(primary.config), **flags, "seed": args.seed})
        if config.gamma >= primary.config.gamma:
            raise ValueError(f"A secondary VAE targets a smaller --gamma than its primary's "
                             f"{primary.config.gamma:g}, got {config.gamma:g}.")
        return config
    size = CONFIGS.get(args.config).image_shape[0]
    if size != shape[0] and "resolutions" not in flags:
        fits = [name for name in CONFIGS.names() if CONFIGS.get(name).image_shape[0] == shape[0]]
        other = f", or --config {' / '.join(fits)}" if fits else ", or --resolutions for them"
        raise ValueError(f"--config {args.config} is for {size}x{size} images, the data are "
                         f"{'x'.join(map(str, shape))}: pass --image-size {size}{other}.")
    return CONFIGS.get(args.config, **{**flags, "image_shape": shape, "seed": args.seed})


def _held_in_memory(spec):
    """Whether training holds the dataset as arrays: it has a local-file format or ships with
    scikit-learn; the TFDS-only datasets (svhn, celeb_a) are streamed."""
    return bool(spec.files) or spec.tfds_name is None


def _images(dataset, split, limit):
    """Images of ``split`` a run uses: ``limit`` or all (``None`` if TFDS does not know)."""
    from tfgen import data

    count = data.num_examples(dataset, split)
    return count if limit is None or (count is not None and count <= limit) else limit


def _train_data(args, spec):
    """``(data, steps_per_epoch, validation, training images)``: for data held in memory a
    function ``first_epoch -> dataset`` of :func:`tfgen.data.epoch_batches` (exact resume), else
    the TFDS stream (reshuffled per epoch). ``validation``: ``--validation-size`` images of the
    dataset's validation split, or held out of the training images held in memory (``None``
    for a streamed dataset without a validation split, or ``--validation-size 0``)."""
    import numpy as np

    from tfgen import data

    validation = None
    if args.validation_size and "validation" in spec.splits:
        validation = data.stream(args.dataset, "validation", 100, shuffle=False, seed=args.seed,
                                 size=args.image_size, limit=args.validation_size)
    if not _held_in_memory(spec):
        return (data.stream(args.dataset, "train", args.batch_size, shuffle=True, seed=args.seed,
                            size=args.image_size, limit=args.train_size), None, validation,
                _images(args.dataset, "train", args.train_size))
    arrays = data.stream(args.dataset, "train", 1000, shuffle=False, seed=args.seed, size=args.image_size,
                         limit=args.train_size)
    x = np.concatenate([batch.numpy() for batch in arrays])
    if validation is None:
        x, held_out = data.hold_out(args.dataset, x, args.validation_size)
        validation = None if held_out is None else data.validation_batches(held_out)

    def epochs_from(first):
        return data.epoch_batches(x, args.batch_size, args.seed, first, args.epochs)[0]

    return epochs_from, math.ceil(len(x) / args.batch_size), validation, len(x)


def _new_model(args, config, primary):
    """A compiled model (app. B.3 optimizers) with its weights."""
    import os

    from tfgen import runs
    from zoo.distortion.model import SecondaryVAE, TopDownVAE, paper_optimizers

    fields = dataclasses.asdict(config)
    model = SecondaryVAE(primary, **fields) if primary is not None else TopDownVAE(**fields)
    model.build()
    if args.init is not None:
        model.load_weights(args.init if os.path.isfile(args.init) else os.path.join(args.init, runs.WEIGHTS))
    optimizer, dual = paper_optimizers(args.learning_rate, args.dual_learning_rate, args.clipnorm)
    model.compile(optimizer, dual_optimizer=dual)
    return model


def train(args):
    """Train a TopDownVAE (or, with ``--primary``, a SecondaryVAE) through the run driver;
    return the run's metrics."""
    _check_args(args)  # the flags first: a bad one is refused before TensorFlow loads
    import keras

    from tfgen import data, runs
    from zoo.distortion import family

    spec = data.info(args.dataset)
    if spec.binary:
        raise ValueError(f"--dataset {args.dataset} has binary pixels; distortion-targeted VAEs model 8-bit "
                         "grey or colour images (fashion_mnist, mnist, svhn, celeb_a, ...).")
    size = args.image_size or spec.shape[0]
    shape = (size, size, spec.shape[-1])
    primary = _load_run(args.primary, "--primary") if args.primary is not None else None
    config = _config(args, shape, primary)
    settings = settings_of(args, config)
    train_data, steps, validation, train_images = _train_data(args, spec)  # a missing dataset fails here,
    test = family.test_stream(settings, "test")  # before the run folder is made
    run = runs.Run(args.out, settings, family.FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    model = run.restore()
    if model is None:
        model = _new_model(args, config, primary)
    run.fit(model, train_data, args.epochs, steps_per_epoch=steps, max_minutes=args.max_minutes,
            checkpoint_every=args.checkpoint_every, verbose=args.verbose, validation_data=validation,
            pictures=family.FAMILY.pictures_of(validation, args.seed))

    figures = family.FAMILY.measure(model, test, 1, seed=args.seed)
    metrics = run.finish(model, **_recorded(figures), dataset=args.dataset, image_shape=list(shape),
                         gamma=config.gamma, train_images=train_images,
                         test_images=_images(args.dataset, "test", args.test_size),
                         steps=int(model.optimizer.iterations.numpy()))
    if primary is not None:  # after the run is saved: measuring compiles the primary
        primary_figures = family.FAMILY.measure(model.primary, test, 1, seed=args.seed)
        metrics = runs.update_metrics(run.out, primary=_recorded(primary_figures))
    print(f"gamma {config.gamma:g}: test distortion {figures['distortion']:.3f}, rate {figures['rate']:.1f} "
          f"nats, ELBO {figures['elbo']:.1f} nats ({figures['bits_per_dim']:.3f} bits/dim)  "
          f"-> {args.out}/metrics.json")
    return metrics


def _recorded(figures):
    """:meth:`DistortionFamily.measure`'s figures under the keys ``tfgen evaluate`` writes."""
    from zoo.distortion.family import FIGURE

    parts = {f"{FIGURE}_{name}": value for name, value in figures.items() if name != "log_likelihood"}
    return {FIGURE: figures["log_likelihood"], **parts}


def add_figures_arguments(parser):
    parser.add_argument("--primaries", nargs="+", required=True,
                        help="finished primary runs, one per gamma (figures 4-6) (required)")
    parser.add_argument("--two-stage", nargs="*", default=[],
                        help="finished secondary runs (figures 7-8) [default: none]")
    parser.add_argument("--examples", type=int, default=8,
                        help="images per row of the grids [default: %(default)s]")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the reconstructions and samples [default: 0]")
    parser.add_argument("--out", default="docs/figures", help="folder of the PNGs [default: %(default)s]")


def figures(args):
    """Draw the paper's figures from runs; print the markdown table of their numbers."""
    from zoo.distortion import figures as paper_figures

    if args.examples < 1:
        raise ValueError(f"--examples must be >= 1, got {args.examples}.")
    table = paper_figures.make_all(args.primaries, args.two_stage, args.out, args.examples, args.seed)
    print(table)
    return table


VERBS = {"train": (add_train_arguments, train), "figures": (add_figures_arguments, figures)}
