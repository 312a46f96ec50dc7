"""Sigmoid belief networks with binary latents (Mnih & Gregor 2014; Mnih & Rezende 2016): ``tfgen train sbn``.

::

    tfgen train sbn --dataset binarized_mnist --estimator nvil --epochs 10 --out runs/sbn_nvil
    tfgen train sbn --config vimco200 --k 5 --out runs/sbn_vimco          # IWAE_5 with VIMCO
    tfgen train sbn --estimator concrete --temperature 0.5 --out runs/sbn_concrete
    tfgen train sbn --kl-warmup 5 --out runs/sbn_warm                      # KL weight 0 -> 1 over 5 epochs

Training goes through the run driver (:mod:`tfgen.runs`: ``--resume``, ``--max-minutes``,
checkpoints, NaN stop); ``metrics.json`` holds ``test_log_likelihood_k{K}`` (IWAE_K over binary
samples, ``--eval-k``) and the bound the run started from, ``initial_test_log_likelihood_k{K}``.
"""
import dataclasses
import math

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.sbn.configs import CONFIGS, SBNConfig


def add_train_arguments(parser):
    parser.add_argument("--dataset", default="binarized_mnist",
                        help="a tfgen.data dataset: binarized_mnist, mnist (binarised afresh each epoch), "
                             "digits (no download), omniglot [default: %(default)s]")
    parser.add_argument("--train-size", type=int, default=None,
                        help="train on a random subset of this many training images (seeded by --seed) "
                             "[default: all]")
    parser.add_argument("--epochs", type=int, default=10, help="epochs [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=50, help="examples per step [default: %(default)s]")
    parser.add_argument("--learning-rate", type=float, default=3e-4,
                        help="Adam's rate [default: %(default)s]")
    parser.add_argument("--kl-warmup", type=int, default=0,
                        help="epochs over which the KL weight rises linearly from 0 to 1 "
                             "(tfgen.callbacks.KLWarmup, logged as kl_weight) [default: none]")
    parser.add_argument("--eval-k", type=int, default=5000,
                        help="importance samples of the test log-likelihood [default: %(default)s]")
    parser.add_argument("--test-size", type=int, default=None,
                        help="estimate it on the first N test images (the split is in its stored order, so a "
                             "biased sample: for a spread subset use tfgen evaluate --every-nth) "
                             "[default: all]")
    tfgen_config.add_arguments(parser, SBNConfig, CONFIGS, skip=("image_shape",))


def _check_args(args):
    for name in ("epochs", "batch_size", "eval_k", "train_size", "test_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    if args.kl_warmup < 0:
        raise ValueError(f"--kl-warmup must be >= 0 epochs, got {args.kl_warmup}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)


def _test_data(model, settings, size):
    from zoo.sbn.family import FAMILY

    test = FAMILY.test_data(model, settings, "test")
    return test if size is None else test.unbatch().take(size).batch(100)


def train(args):
    """Train an SBN through the run driver; return the run's metrics."""
    import keras
    import numpy as np

    from tfgen import callbacks, data, optimizers, runs
    from zoo.sbn.family import FAMILY
    from zoo.sbn.model import SBN

    _check_args(args)
    spec = data.info(args.dataset)
    config = tfgen_config.from_arguments(args, SBNConfig, CONFIGS)
    config = dataclasses.replace(config, image_shape=spec.shape, seed=args.seed)
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    images = data.load_images(args.dataset, "train")
    if args.train_size is not None and args.train_size < len(images):
        images = images[np.sort(np.random.default_rng(args.seed).choice(len(images), args.train_size, False))]
    x = images.reshape(len(images), -1)
    x = x if spec.binary else x.astype("float32") / 255.0
    key = f"test_log_likelihood_k{args.eval_k}"
    model = run.restore()
    if model is None:
        model = SBN(**dataclasses.asdict(config))
        model.build()  # the output bias starts at the data mean (grey pixels: their expectation)
        model.likelihood.set_bias_from_mean(x.mean(axis=0))
        model.compile(optimizer=optimizers.Adam(args.learning_rate))
        initial = FAMILY.measure(model, _test_data(model, settings, args.test_size), args.eval_k, args.seed,
                                 verbose=args.verbose)
        runs.update_metrics(args.out, **{f"initial_{key}": initial["log_likelihood"]})
    binarize = config.likelihood == "bernoulli" and not spec.binary

    def epochs_from(first):
        return data.epoch_batches(x, args.batch_size, args.seed, first, args.epochs,
                                  dynamic_binarization=binarize)[0]

    family_callbacks = [callbacks.KLWarmup(args.kl_warmup)] if args.kl_warmup else []
    run.fit(model, epochs_from, args.epochs, steps_per_epoch=math.ceil(len(x) / args.batch_size),
            callbacks=family_callbacks, max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every,
            verbose=args.verbose)
    ll = FAMILY.measure(model, _test_data(model, settings, args.test_size), args.eval_k, args.seed,
                        verbose=args.verbose)
    metrics = run.finish(model, **{key: ll["log_likelihood"]}, dataset=args.dataset,
                         test_size=args.test_size)
    print(f"test log-likelihood (k = {args.eval_k}): {ll['log_likelihood']:.2f} nats (from "
          f"{metrics.get(f'initial_{key}', float('nan')):.2f} at initialisation) -> {args.out}/metrics.json")
    return metrics


VERBS = {"train": (add_train_arguments, train)}
