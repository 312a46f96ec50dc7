"""A GAN as adversarial two-sample testing (Goodfellow et al. 2014): ``tfgen train gan``.

::

    tfgen train gan --dataset fashion_mnist --epochs 20 --out runs/gan

Grey images in [0, 1]. ``metrics.json`` then holds the test figures of
:func:`zoo.gan.model.two_sample_figures` against the test images: ``test_mmd`` (10000 x MMD^2,
with ``test_mmd_real``, two halves of the test images, beside it), ``test_accuracy`` and
``test_kl`` of a fresh classifier two-sample test.
"""

import dataclasses

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.gan.configs import CONFIGS, GANConfig


def add_train_arguments(parser):
    parser.add_argument(
        "--dataset",
        default="fashion_mnist",
        help="a tfgen.data dataset of grey images: fashion_mnist, mnist, digits [default: %(default)s]",
    )
    parser.add_argument("--epochs", type=int, default=20, help="epochs [default: %(default)s]")
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="train on a random subset of this many images (seeded) [default: all]",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="images per step [default: %(default)s]")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=2e-4,
        help="Adam's rate for both networks, beta_1 = 0.5 (Radford et al. 2016) [default: %(default)s]",
    )
    parser.add_argument(
        "--test-num",
        type=int,
        default=2000,
        help="real and generated images of each test figure [default: %(default)s]",
    )
    tfgen_config.add_arguments(parser, GANConfig, CONFIGS, skip=("image_shape",))


def train(args):
    """Train a GAN through the run driver; return the run's metrics."""
    import keras
    import numpy as np

    from tfgen import data, optimizers, runs
    from zoo.gan.family import FAMILY
    from zoo.gan.model import GAN, two_sample_figures

    for name in ("epochs", "batch_size", "test_num", "train_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    spec = data.info(args.dataset)
    config = dataclasses.replace(
        tfgen_config.from_arguments(args, GANConfig, CONFIGS), image_shape=spec.shape, seed=args.seed
    )
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    images = data.load_images(args.dataset, "train")
    if args.train_size is not None and args.train_size < len(images):
        images = images[np.sort(np.random.default_rng(args.seed).choice(len(images), args.train_size, False))]
    x = images.reshape(len(images), -1).astype("float32") / (1.0 if spec.binary else 255.0)
    model = run.restore()
    if model is None:
        model = GAN(**dataclasses.asdict(config))
        model.build()
        model.compile(
            optimizer=optimizers.Adam(args.learning_rate, beta_1=0.5),
            discriminator_optimizer=optimizers.Adam(args.learning_rate, beta_1=0.5),
        )

    def epochs_from(first):
        return data.epoch_batches(x, args.batch_size, args.seed, first, args.epochs)[0]

    run.fit(
        model,
        epochs_from,
        args.epochs,
        steps_per_epoch=-(-len(x) // args.batch_size),
        max_minutes=args.max_minutes,
        checkpoint_every=args.checkpoint_every,
        verbose=args.verbose,
    )
    test = data.load_images(args.dataset, "test")
    figures = two_sample_figures(
        model, test.reshape(len(test), -1) / (1.0 if spec.binary else 255.0), args.test_num, seed=args.seed
    )
    metrics = run.finish(
        model, **{f"test_{key}": value for key, value in figures.items()}, dataset=args.dataset
    )
    print(
        f"10000 x MMD^2 to the test images {figures['mmd']:.2f} (two halves of them: "
        f"{figures['mmd_real']:.2f}); classifier two-sample test: accuracy {figures['accuracy']:.3f}, "
        f"KL(data || gen) ~ {figures['kl']:.2f} nats -> {args.out}/metrics.json"
    )
    return metrics


VERBS = {"train": (add_train_arguments, train)}
