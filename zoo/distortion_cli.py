"""``tfgen distortion-train`` and ``tfgen distortion-figures``: seed 004's experiments.

    tfgen distortion-train --dataset fashion_mnist --gamma 8 --out runs/dt_g8
    tfgen distortion-train --dataset fashion_mnist --primary runs/dt_g8 --gamma 2 --out runs/dt_g8_s2
    tfgen distortion-figures --primaries runs/dt_g2 runs/dt_g8 --two-stage runs/dt_g8_s2 --out docs/figures

Training writes a tfgen run (``config.json``, ``model.weights.h5``, ``metrics.json`` with
the test ``elbo``, ``bits_per_dim``, ``rate`` / ``kl_{layer}``, ``distortion``) and a
weights checkpoint after every epoch.
"""
import dataclasses
import os
import time

import keras
import numpy as np

from tfgen import data, runs
from tfgen.callbacks import TimeBudget
from zoo import distortion

SIZES = ("cpu",) + tuple(distortion.PAPER)


def register(commands):
    """Add the ``distortion-*`` subcommands to the ``tfgen`` parser's ``commands``."""
    train = commands.add_parser("distortion-train",
                                help="train a distortion-targeted VAE (or a secondary one with --primary)")
    train.add_argument("--dataset", default="fashion_mnist",
                       help="a tfgen.data dataset (default fashion_mnist)")
    train.add_argument("--gamma", type=float, required=True,
                       help="distortion target: sum of squared errors per image on the [0, 1] scale")
    train.add_argument("--primary", default=None, help="a primary run: train a secondary VAE on top of it")
    train.add_argument("--init", default=None,
                       help="a run (or a .weights.h5 file) of the same architecture whose weights "
                       "(and lambda) training starts from")
    train.add_argument("--size", default="cpu", help=f"architecture, one of {list(SIZES)} (default cpu)")
    train.add_argument("--train-size", type=int, default=None, help="random training subset (default all)")
    train.add_argument("--test-size", type=int, default=None, help="test images measured (default all)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=2e-4, help="model's Adam (paper: 2e-4)")
    train.add_argument("--dual-learning-rate", type=float, default=2e-4, help="lambda's Adam (paper: 2e-4)")
    train.add_argument("--clipnorm", type=float, default=None, help="global gradient-norm clipping (off)")
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop training after this many minutes of fit (default: run all epochs)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--verbose", type=int, default=2, help="Keras verbosity: 0, 1 (bars) or 2")

    figures = commands.add_parser("distortion-figures",
                                  help="seed 004's figures 4, 5, 6 and 8 from distortion-train runs")
    figures.add_argument("--primaries", nargs="+", required=True, help="primary runs (several gammas)")
    figures.add_argument("--two-stage", nargs="*", default=[], help="secondary runs")
    figures.add_argument("--examples", type=int, default=8, help="images per grid row")
    figures.add_argument("--seed", type=int, default=0)
    figures.add_argument("--out", default="docs/figures", help="folder of the PNGs")



def _subset(images, size, seed):
    if size is None or size >= len(images):
        return images
    if size < 1:
        raise ValueError(f"A subset size must be >= 1, got {size}.")
    return images[np.sort(np.random.default_rng(seed).choice(len(images), size, replace=False))]


def build_model(args, image_shape):
    if args.primary is not None:
        primary, _ = runs.load(args.primary)
        if not isinstance(primary, distortion.TopDownVAE):
            raise ValueError(f"{args.primary} holds a {type(primary).__name__}, not a TopDownVAE.")
        if args.gamma >= primary.config.gamma:
            raise ValueError(f"A secondary VAE targets a smaller gamma than its primary's "
                             f"{primary.config.gamma}, got {args.gamma}.")
        return distortion.SecondaryVAE(primary, gamma=args.gamma, seed=args.seed)
    if args.size == "cpu":
        config = distortion.cpu_config(image_shape, gamma=args.gamma, seed=args.seed)
    elif args.size in distortion.PAPER:
        config = distortion.paper_config(args.size, gamma=args.gamma, seed=args.seed)
    else:
        raise ValueError(f"Unknown --size {args.size!r}; choose one of {list(SIZES)}.")
    if config.image_shape != tuple(image_shape):
        raise ValueError(
            f"--size {args.size} is for {config.image_shape} images, the data are {image_shape}.")
    return distortion.TopDownVAE(**dataclasses.asdict(config))


def train_command(args):
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if not args.gamma > 0:
        raise ValueError(f"--gamma must be positive, got {args.gamma}.")
    train = _subset(data.load_images(args.dataset, "train"), args.train_size, args.seed)
    test = _subset(data.load_images(args.dataset, "test"), args.test_size, args.seed + 1)
    keras.utils.set_random_seed(args.seed)
    model = build_model(args, train.shape[1:])
    if args.init is not None:
        model.build()
        model.load_weights(args.init if os.path.isfile(args.init) else os.path.join(args.init, runs.WEIGHTS))
    runs.prepare_dir(args.out, args.overwrite)
    optimizer, dual = distortion.paper_optimizers(args.learning_rate, args.dual_learning_rate, args.clipnorm)
    model.compile(optimizer, dual_optimizer=dual)

    start = time.time()
    callbacks = [keras.callbacks.TerminateOnNaN(),
                 keras.callbacks.CSVLogger(os.path.join(args.out, "history.csv")),
                 keras.callbacks.ModelCheckpoint(os.path.join(args.out, "checkpoint.weights.h5"),
                                                 save_weights_only=True)]
    if args.max_minutes is not None:
        callbacks.append(TimeBudget(args.max_minutes, at="batch"))
    history = model.fit(train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
                        callbacks=callbacks)
    train_seconds = time.time() - start
    settings = {key: value for key, value in vars(args).items() if key not in ("command", "overwrite")}
    runs.save(model, args.out, settings)
    test_metrics = model.evaluate(test, batch_size=100, verbose=0, return_dict=True)
    extra = {}
    if args.primary is not None:  # the primary's measures on the same test images
        model.primary.compile(*distortion.paper_optimizers()[:1], dual_optimizer=dual)
        primary_metrics = model.primary.evaluate(test, batch_size=100, verbose=0, return_dict=True)
        extra["primary_test"] = {key: float(value) for key, value in primary_metrics.items()}
    metrics = runs.update_metrics(
        args.out, dataset=args.dataset, gamma=args.gamma, epochs=args.epochs, train_images=len(train),
        test_images=len(test), train_seconds=round(train_seconds, 1),
        steps=int(model.optimizer.iterations.numpy()),
        final_train={key: float(values[-1]) for key, values in history.history.items()},
        test={key: float(value) for key, value in test_metrics.items()}, **extra,
    )
    t = metrics["test"]
    print(f"gamma {args.gamma}: test distortion {t['distortion']:.3f}, rate {t['rate']:.1f} nats, "
          f"ELBO {t['elbo']:.1f} nats ({t['bits_per_dim']:.3f} bits/dim)  -> {args.out}/metrics.json")
    return metrics


def figures_command(args):
    from zoo import distortion_figures

    table = distortion_figures.make_all(args.primaries, args.two_stage, args.out, args.examples, args.seed)
    print(table)
    return table


HANDLERS = {"distortion-train": train_command, "distortion-figures": figures_command}
