"""DRAW (Gregor et al. 2015): ``tfgen train draw`` and ``tfgen figures draw``.

::

    tfgen train draw --dataset binarized_mnist --config cpu --epochs 20 --out runs/draw
    tfgen figures draw --run runs/draw --out docs/figures/draw_canvas.png

``metrics.json`` holds ``test_log_likelihood_k{K}`` (IWAE_K over the T steps' latents, ``--eval-k``)
and ``test_elbo`` (the bound Gregor et al. report, a one-sample mean over the test set).
"""

import dataclasses

from tfgen import config as tfgen_config
from zoo.draw.configs import CONFIGS, DRAWConfig
from zoo.families import settings_of


def add_train_arguments(parser):
    parser.add_argument(
        "--dataset",
        default="binarized_mnist",
        help="a tfgen.data dataset of 1-channel images: binarized_mnist, mnist (binarised "
        "afresh each epoch), digits [default: %(default)s]",
    )
    parser.add_argument("--epochs", type=int, default=20, help="epochs [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=100, help="images per step [default: %(default)s]")
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, help="Adam's rate [default: %(default)s]"
    )
    parser.add_argument(
        "--eval-k",
        type=int,
        default=100,
        help="importance samples of the final test log-likelihood [default: %(default)s]",
    )
    tfgen_config.add_arguments(parser, DRAWConfig, CONFIGS, skip=("image_shape",))


def train(args):
    """Train DRAW through the run driver; return the run's metrics."""
    import keras

    from tfgen import data, runs
    from zoo.draw.family import FAMILY
    from zoo.draw.model import DRAW, default_optimizer

    for name in ("epochs", "batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    spec = data.info(args.dataset)
    config = dataclasses.replace(
        tfgen_config.from_arguments(args, DRAWConfig, CONFIGS), image_shape=spec.shape, seed=args.seed
    )
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    images = data.load_images(args.dataset, "train")
    x = images.reshape(len(images), -1).astype("float32") / (1.0 if spec.binary else 255.0)
    model = run.restore()
    if model is None:
        model = DRAW(**dataclasses.asdict(config))
        model.build()
        model.compile(optimizer=default_optimizer(args.learning_rate))

    def epochs_from(first):
        return data.epoch_batches(
            x, args.batch_size, args.seed, first, args.epochs, dynamic_binarization=not spec.binary
        )[0]

    run.fit(
        model,
        epochs_from,
        args.epochs,
        steps_per_epoch=-(-len(x) // args.batch_size),
        max_minutes=args.max_minutes,
        checkpoint_every=args.checkpoint_every,
        verbose=args.verbose,
    )
    test = FAMILY.test_data(model, settings, "test")
    ll = FAMILY.measure(model, test, args.eval_k, seed=args.seed)["log_likelihood"]
    elbo = model.evaluate(test, verbose=0, return_dict=True)["elbo"]
    metrics = run.finish(
        model, **{f"test_log_likelihood_k{args.eval_k}": ll}, test_elbo=elbo, dataset=args.dataset
    )
    print(
        f"test ELBO {elbo:.2f}, log-likelihood (k = {args.eval_k}) {ll:.2f} nats -> {args.out}/metrics.json"
    )
    return metrics


def add_figure_arguments(parser):
    parser.add_argument("--run", required=True, help="a DRAW run folder or preset (required)")
    parser.add_argument("--out", default="draw_canvas.png", help="the PNG written [default: %(default)s]")
    parser.add_argument(
        "--num", type=int, default=8, help="rows: samples (or test images) [default: %(default)s]"
    )
    parser.add_argument(
        "--reconstruct",
        action="store_true",
        help="draw test images' reconstructions instead of samples [default: samples]",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws [default: %(default)s]")


def figures(args):
    """The canvas sequence of a trained DRAW: one row per image, one column per step."""
    import numpy as np

    from zoo.draw.family import FAMILY
    from zoo.draw.figures import canvas_sequence
    from zoo.presets_cli import load_model

    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}.")
    model, settings, _ = load_model(args.run)
    if type(model).__name__ != "DRAW":
        raise ValueError(f"{args.run} holds a {type(model).__name__}, not a DRAW.")
    x = None
    if args.reconstruct:
        x = np.concatenate(list(FAMILY.test_data(model, settings, "test").take(1).as_numpy_iterator()))[
            : args.num
        ]
    canvas_sequence(model, args.out, args.num, args.seed, x=x)
    print(
        f"canvas sequence of {args.num} {'reconstructions' if x is not None else 'samples'} over "
        f"{model.config.steps} steps -> {args.out}"
    )


VERBS = {"train": (add_train_arguments, train), "figures": (add_figure_arguments, figures)}
