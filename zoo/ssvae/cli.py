"""Semi-supervised VAEs, M2 (Kingma et al. 2014) and ADGM (Maaloe et al. 2016): ``tfgen train ssvae``.

::

    tfgen train ssvae --dataset fashion_mnist --labels-per-class 10 --epochs 100 --out runs/m2
    tfgen train ssvae --config maaloe2016_adgm --dataset fashion_mnist --out runs/adgm
    tfgen train ssvae --dataset mnist --out runs/m2_mnist      # MNIST through TFDS (downloads once)

``--labels-per-class`` images of each class keep their labels (seeded by ``--seed``); the rest
of the training images (less ``--validation`` held out for ``val_error``) are unlabelled.
``metrics.json`` then holds ``test_log_likelihood_k{K}`` (IWAE_K, the class sampled) and
``test_error`` (the fraction of test images misclassified by ``q(y|x)``).
"""

import dataclasses

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.ssvae.configs import CONFIGS, SSVAEConfig


def add_train_arguments(parser):
    parser.add_argument(
        "--dataset",
        default="fashion_mnist",
        help="a tfgen.data dataset with labels: fashion_mnist (in $TFGEN_DATA_DIR or TFDS) or "
        "mnist (TFDS) [default: %(default)s]",
    )
    parser.add_argument(
        "--labels-per-class",
        type=int,
        default=10,
        help="labelled training images of each class (Kingma et al.: 10, 100 labels in all) "
        "[default: %(default)s]",
    )
    parser.add_argument(
        "--unlabelled",
        type=int,
        default=None,
        help="keep a random subset of this many unlabelled images (seeded by --seed), for short runs "
        "[default: all the others]",
    )
    parser.add_argument(
        "--validation",
        type=int,
        default=10000,
        help="the last N training images are held out to log val_error each epoch "
        "(MNIST's 50000/10000 split); 0 for none [default: %(default)s]",
    )
    parser.add_argument(
        "--epochs", type=int, default=100, help="passes over the unlabelled images [default: %(default)s]"
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, help="unlabelled images per step [default: %(default)s]"
    )
    parser.add_argument(
        "--labelled-batch-size",
        type=int,
        default=100,
        help="labelled images per step, drawn with replacement [default: %(default)s]",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=3e-4,
        help="Adam's rate (Kingma et al., Maaloe et al.: 3e-4) [default: %(default)s]",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.1,
        help="Kingma et al.'s alpha / N: sets classifier_weight = alpha x (training images) / "
        "(labelled images) unless --classifier-weight is given [default: %(default)s]",
    )
    parser.add_argument(
        "--eval-k",
        type=int,
        default=1000,
        help="importance samples of the final test log-likelihood [default: %(default)s]",
    )
    tfgen_config.add_arguments(parser, SSVAEConfig, CONFIGS, skip=("image_shape",))


def _check_args(args):
    for name in ("labels_per_class", "epochs", "batch_size", "labelled_batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.unlabelled is not None and args.unlabelled < 1:
        raise ValueError(f"--unlabelled must be >= 1, got {args.unlabelled}.")
    if args.validation < 0:
        raise ValueError(f"--validation must be >= 0, got {args.validation}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    tfgen_config.check_float("--alpha", args.alpha, 0.0)


def split(args, spec):
    """``(labelled x, labels, unlabelled x, validation x, validation labels)`` of the training images,
    flat, in [0, 1] (binary datasets as they are)."""
    import numpy as np

    from tfgen import data
    from zoo.ssvae.model import labelled_subset

    if not spec.classes:
        raise ValueError(
            f"tfgen train ssvae needs labels; {spec.name!r} has none (use fashion_mnist or mnist)."
        )
    images, labels = data.load_images(spec.name, "train"), data.load_labels(spec.name, "train")
    x = images.reshape(len(images), -1).astype("float32") / (1.0 if spec.binary else 255.0)
    if args.validation >= len(x):
        raise ValueError(f"--validation {args.validation} leaves no training images of {len(x)}.")
    cut = len(x) - args.validation
    chosen = labelled_subset(labels[:cut], args.labels_per_class, args.seed)
    unlabelled = np.delete(x[:cut], chosen, axis=0)
    if args.unlabelled is not None and args.unlabelled < len(unlabelled):
        keep = np.random.default_rng(args.seed + 1).choice(len(unlabelled), args.unlabelled, replace=False)
        unlabelled = unlabelled[np.sort(keep)]
    return x[chosen], labels[chosen], unlabelled, x[cut:], labels[cut:]


def train(args):
    """Train M2 / ADGM through the run driver; return the run's metrics."""
    import keras
    import numpy as np

    from tfgen import data, optimizers, runs
    from zoo.ssvae.family import FAMILY
    from zoo.ssvae.model import ClassificationError, SemiSupervisedVAE, semi_supervised_batches

    _check_args(args)
    spec = data.info(args.dataset)
    xl, yl, xu, xv, yv = split(args, spec)
    config = tfgen_config.from_arguments(args, SSVAEConfig, CONFIGS)
    weight = (
        config.classifier_weight
        if args.model_classifier_weight is not None
        else args.alpha * (len(xl) + len(xu)) / len(xl)
    )
    config = dataclasses.replace(config, image_shape=spec.shape, seed=args.seed, classifier_weight=weight)
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    model = run.restore()
    if model is None:
        model = SemiSupervisedVAE(**dataclasses.asdict(config))
        model.build()
        model.likelihood.set_bias_from_mean(xu.mean(axis=0))
        model.compile(optimizer=optimizers.Adam(args.learning_rate))
    binarize = config.likelihood == "bernoulli" and not spec.binary

    def epochs_from(first):
        return semi_supervised_batches(
            xu,
            xl,
            yl,
            args.batch_size,
            args.labelled_batch_size,
            args.seed,
            first,
            args.epochs,
            dynamic_binarization=binarize,
        )[0]

    family_callbacks = []
    if len(xv):
        if binarize:
            xv = (np.random.default_rng(args.seed).random(xv.shape) < xv).astype("float32")
        family_callbacks.append(ClassificationError(xv, yv))
    run.fit(
        model,
        epochs_from,
        args.epochs,
        steps_per_epoch=-(-len(xu) // args.batch_size),
        callbacks=family_callbacks,
        max_minutes=args.max_minutes,
        checkpoint_every=args.checkpoint_every,
        verbose=args.verbose,
    )

    from zoo.ssvae.model import classification_error

    x_test, y_test = FAMILY.images_and_labels(model, settings, "test", args.seed)
    error = classification_error(model, x_test, y_test)
    ll = FAMILY.measure(model, FAMILY.test_data(model, settings, "test"), args.eval_k, seed=args.seed)
    key = f"test_log_likelihood_k{args.eval_k}"
    metrics = run.finish(
        model,
        **{key: ll["log_likelihood"]},
        test_error=error,
        dataset=args.dataset,
        labelled=len(xl),
        unlabelled=len(xu),
    )
    print(
        f"test classification error {100 * error:.2f}% with {len(xl)} labels; test log-likelihood "
        f"(k = {args.eval_k}) {ll['log_likelihood']:.2f} nats -> {args.out}/metrics.json"
    )
    return metrics


VERBS = {"train": (add_train_arguments, train)}
