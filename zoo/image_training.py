"""``tfgen train ladder`` and ``tfgen train auxiliary``: one training command for image models
that need nothing but a bound, Adam and (optionally) KL warm-up.

The families' ``cli`` modules declare their flags with :func:`add_train_arguments` and train
with :func:`train`: the config from ``--config`` and the model flags, the run driver
(:mod:`tfgen.runs`: ``--resume``, ``--max-minutes``, checkpoints, NaN stop), epochs of shuffled
batches (grey pixels binarised afresh each batch for a Bernoulli likelihood), warm-up by
:class:`tfgen.callbacks.KLWarmup`, then the test figure of the family (``log p(x)`` by IWAE_k,
``--eval-k``) in ``metrics.json``. No TensorFlow is imported until a command runs.
"""
from tfgen import config as tfgen_config
from zoo.families import settings_of


def add_train_arguments(parser, config_class, registry, warmup_default=0):
    parser.add_argument("--dataset", default="binarized_mnist",
                        help="a tfgen.data dataset: binarized_mnist, mnist (binarised afresh each batch), "
                             "digits (no download), fashion_mnist, omniglot [default: %(default)s]")
    parser.add_argument("--train-size", type=int, default=None,
                        help="train on a random subset of this many training images (seeded by --seed) "
                             "[default: all]")
    parser.add_argument("--epochs", type=int, default=20, help="epochs [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=100,
                        help="examples per step [default: %(default)s]")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's rate (beta_2 = 0.999, epsilon = 1e-4 as Burda et al. 2016) "
                             "[default: %(default)s]")
    parser.add_argument("--warmup-epochs", type=int, default=warmup_default,
                        help="epochs over which the KL terms' weight rises linearly from 0 to 1 "
                             "(Sonderby et al. 2016; 0: none) [default: %(default)s]")
    parser.add_argument("--eval-k", type=int, default=5000,
                        help="importance samples of the final test log-likelihood [default: %(default)s]")
    tfgen_config.add_arguments(parser, config_class, registry, skip=("image_shape",))


def _check_args(args):
    for name in ("epochs", "batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.train_size is not None and args.train_size < 1:
        raise ValueError(f"--train-size must be >= 1, got {args.train_size}.")
    if args.warmup_epochs < 0:
        raise ValueError(f"--warmup-epochs must be >= 0, got {args.warmup_epochs}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)


def train(args, model_class, config_class, registry, family):
    """Train ``model_class`` through the run driver; return the run's metrics."""
    import dataclasses
    import math

    import keras
    import numpy as np

    from tfgen import callbacks, data, optimizers, runs

    _check_args(args)
    spec = data.info(args.dataset)
    config = registry.get(args.config, **{**_overrides(args, config_class), "image_shape": spec.shape,
                                          "seed": args.seed})
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, family.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    images = data.load_images(args.dataset, "train")
    if args.train_size is not None:
        images = images[np.random.default_rng(args.seed).permutation(len(images))[:args.train_size]]
    x = images.reshape(len(images), -1)
    x = x if spec.binary else x.astype("float32") / 255.0
    model = run.restore()
    if model is None:
        model = model_class(**dataclasses.asdict(config))
        model.build()  # the output bias starts at the data mean (Burda et al. 2016)
        model.likelihood.set_bias_from_mean(x.mean(axis=0))
        model.compile(optimizer=optimizers.Adam(args.learning_rate, beta_2=0.999, epsilon=1e-4))
    binarize = config.likelihood == "bernoulli" and not spec.binary

    def epochs_from(first):
        return data.epoch_batches(x, args.batch_size, args.seed, first, args.epochs,
                                  dynamic_binarization=binarize)[0]

    warmup = [callbacks.KLWarmup(args.warmup_epochs)] if args.warmup_epochs else []
    run.fit(model, epochs_from, args.epochs, steps_per_epoch=math.ceil(len(x) / args.batch_size),
            callbacks=warmup, max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every,
            verbose=args.verbose)

    test = family.test_data(model, settings, "test")
    ll = family.measure(model, test, args.eval_k, seed=args.seed, verbose=args.verbose)["log_likelihood"]
    metrics = run.finish(model, **{f"test_log_likelihood_k{args.eval_k}": ll}, dataset=args.dataset)
    print(f"test log-likelihood (k = {args.eval_k}): {ll:.2f} nats  -> {args.out}/metrics.json")
    return metrics


def _overrides(args, config_class):
    import dataclasses

    return {f.name: getattr(args, f"model_{f.name}") for f in dataclasses.fields(config_class)
            if getattr(args, f"model_{f.name}", None) is not None}
