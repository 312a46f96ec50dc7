"""``tfgen distortion-train`` and ``tfgen distortion-figures``: seed 004's experiments.

    tfgen distortion-train --dataset fashion_mnist --gamma 8 --out runs/dt_g8
    tfgen distortion-train --dataset fashion_mnist --primary runs/dt_g8 --gamma 2 --out runs/dt_g8_s2
    tfgen distortion-figures --primaries runs/dt_g2 runs/dt_g8 --two-stage runs/dt_g8_s2 --out docs/figures
    tfgen distortion-train --dataset celeb_a --size celeba --gamma 13.8 --epochs 20 --out runs/celeba_g13.8

Data come through :func:`tfgen.data.stream` (uint8 batches): arrays for the datasets with
local files, a TFDS stream (decode, crop, resize) for ``svhn`` and ``celeb_a``. Training
writes a tfgen run (``config.json``, ``model.weights.h5``, ``metrics.json`` with the test
``elbo``, ``bits_per_dim``, ``rate`` / ``kl_{layer}``, ``distortion``) and a weights
checkpoint after every epoch.
"""
import dataclasses
import os
import time

import keras

from tfgen import data, runs
from tfgen.callbacks import TimeBudget
from zoo import distortion

SIZES = ("cpu",) + tuple(distortion.PAPER)


def register(commands):
    """Add the ``distortion-*`` subcommands to the ``tfgen`` parser's ``commands``."""
    train = commands.add_parser("distortion-train",
                                help="train a distortion-targeted VAE (or a secondary one with --primary)")
    train.add_argument("--dataset", default="fashion_mnist",
                       help="a tfgen.data dataset, e.g. fashion_mnist (default), svhn, celeb_a")
    train.add_argument("--image-size", type=int, default=None,
                       help="side of the square images (default: the dataset's, celeb_a 64; "
                       "--size cpu needs 28 or 32)")
    train.add_argument("--gamma", type=float, required=True,
                       help="distortion target: sum of squared errors per image on the [0, 1] scale")
    train.add_argument("--primary", default=None, help="a primary run: train a secondary VAE on top of it")
    train.add_argument("--init", default=None,
                       help="a run (or a .weights.h5 file) of the same architecture whose weights "
                       "(and lambda) training starts from")
    train.add_argument("--size", default="cpu", help=f"architecture, one of {list(SIZES)} (default cpu)")
    train.add_argument("--train-size", type=int, default=None,
                       help="training subset (default all): random for data held in memory, the first "
                       "images of a TFDS split")
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



def _images(args, split, limit, seed):
    """``(uint8 batches, number of images)`` of one split, as ``tfgen.data.stream`` gives them."""
    batch_size = args.batch_size if split == "train" else 100
    batches = data.stream(args.dataset, split, batch_size, shuffle=split == "train", seed=seed,
                          size=args.image_size, limit=limit)
    count = data.num_examples(args.dataset, split)
    return batches, (limit if count is None or (limit is not None and limit < count) else count)


def build_model(args, image_shape):
    if args.primary is not None:
        primary, _ = runs.load(args.primary)
        if not isinstance(primary, distortion.TopDownVAE):
            raise ValueError(f"{args.primary} holds a {type(primary).__name__}, not a TopDownVAE.")
        if primary.config.image_shape != tuple(image_shape):
            raise ValueError(f"The primary models {primary.config.image_shape} images, the data are "
                             f"{image_shape}: pass --image-size {primary.config.image_shape[0]}.")
        if args.gamma >= primary.config.gamma:
            raise ValueError(f"A secondary VAE targets a smaller gamma than its primary's "
                             f"{primary.config.gamma}, got {args.gamma}.")
        return distortion.SecondaryVAE(primary, gamma=args.gamma, seed=args.seed)
    if args.size == "cpu":
        if image_shape[0] not in distortion.CPU:
            raise ValueError(f"--size cpu has layouts for {sorted(distortion.CPU)}-pixel images, the data "
                             f"are {image_shape}: pass --image-size 32 (or a paper --size).")
        config = distortion.cpu_config(image_shape, gamma=args.gamma, seed=args.seed)
    elif args.size in distortion.PAPER:
        config = distortion.paper_config(args.size, gamma=args.gamma, seed=args.seed)
    else:
        raise ValueError(f"Unknown --size {args.size!r}; choose one of {list(SIZES)}.")
    if config.image_shape != tuple(image_shape):
        raise ValueError(f"--size {args.size} is for {config.image_shape} images, the data are "
                         f"{image_shape}: pass --image-size {config.image_shape[0]}.")
    return distortion.TopDownVAE(**dataclasses.asdict(config))


def train_command(args):
    for name in ("epochs", "batch_size", "train_size", "test_size", "image_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if not args.gamma > 0:
        raise ValueError(f"--gamma must be positive, got {args.gamma}.")
    train, train_images = _images(args, "train", args.train_size, args.seed)
    test, test_images = _images(args, "test", args.test_size, args.seed + 1)
    keras.utils.set_random_seed(args.seed)
    model = build_model(args, tuple(train.element_spec.shape[1:]))
    if args.init is not None:
        model.build()
        model.load_weights(args.init if os.path.isfile(args.init) else os.path.join(args.init, runs.WEIGHTS))
    runs.prepare_dir(args.out, args.overwrite)
    optimizer, dual = distortion.paper_optimizers(args.learning_rate, args.dual_learning_rate, args.clipnorm)
    model.compile(optimizer, dual_optimizer=dual)
    # Create the weights and both optimizers' slots before fit: created inside fit's first
    # trace, they make tf.function trace the whole train step twice.
    if not model.built:
        model.build()
    optimizer.build(model.trainable_variables)
    multipliers = model.multipliers
    dual.build([multipliers.multipliers[n] for n, c in multipliers.constraints.items() if c.learned])

    start = time.time()
    callbacks = [keras.callbacks.TerminateOnNaN(),
                 keras.callbacks.CSVLogger(os.path.join(args.out, "history.csv")),
                 keras.callbacks.ModelCheckpoint(os.path.join(args.out, "checkpoint.weights.h5"),
                                                 save_weights_only=True)]
    if args.max_minutes is not None:
        callbacks.append(TimeBudget(args.max_minutes, at="batch"))
    history = model.fit(train, epochs=args.epochs, verbose=args.verbose, callbacks=callbacks)
    train_seconds = time.time() - start
    settings = {key: value for key, value in vars(args).items() if key not in ("command", "overwrite")}
    runs.save(model, args.out, settings)
    test_metrics = model.evaluate(test, verbose=0, return_dict=True)
    extra = {}
    if args.primary is not None:  # the primary's measures on the same test images
        model.primary.compile(*distortion.paper_optimizers()[:1], dual_optimizer=dual)
        primary_metrics = model.primary.evaluate(test, verbose=0, return_dict=True)
        extra["primary_test"] = {key: float(value) for key, value in primary_metrics.items()}
    metrics = runs.update_metrics(
        args.out, dataset=args.dataset, image_shape=list(model.config.image_shape), gamma=args.gamma,
        epochs=args.epochs, train_images=train_images, test_images=test_images,
        train_seconds=round(train_seconds, 1),
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
