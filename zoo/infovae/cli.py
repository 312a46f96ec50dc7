"""InfoVAE and LagVAE (Zhao, Song & Ermon 2018): ``tfgen train infovae --method infovae|lagvae``.

The authors' README examples (``--config zhao2018_infovae`` / ``zhao2018_lagvae``, the defaults
of each ``--model``)::

    tfgen train infovae --method infovae --mi 1 --e1 1 --e2 1 --epochs 5 --out runs/infovae
    tfgen train infovae --method lagvae --mi 1 --e1 86 --e2 5 --epochs 5 --out runs/lagvae
    tfgen train infovae --method lagvae --e1 140 --e2 3 --hidden 256,256 --epochs 8 \\
        --learning-rate 1e-3 --dual-learning-rate 1e-2 --out runs/lagvae_mmd3
    tfgen train infovae --method lagvae --dataset fashion_mnist --config gaussian --out runs/fashion

Training goes through the run driver (:mod:`tfgen.runs`: ``--resume``, ``--max-minutes``,
checkpoints, NaN stop). ``metrics.json`` then holds ``test_log_likelihood_k{K}`` (IWAE_K,
``--eval-k``) and, as ``test_log_likelihood_k{K}_{name}``, the held-out ``consistency``,
``rate``, ``mmd`` and ``mutual_information`` (:class:`zoo.infovae.family.InfoVAEFamily`).
"""
import dataclasses
import math

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.infovae.configs import CONFIGS, InfoVAEConfig, LagVAEConfig

LAGVAE_ONLY = tuple(f.name for f in dataclasses.fields(LagVAEConfig)
                    if f.name not in {g.name for g in dataclasses.fields(InfoVAEConfig)})


def add_train_arguments(parser):
    parser.add_argument("--method", default="infovae", choices=sorted(CONFIGS),
                        help="infovae: e1, e2 are fixed weights; lagvae: e1, e2 are targets and the "
                             "multipliers are learned [default: %(default)s]")
    parser.add_argument("--dataset", default="binarized_mnist",
                        help="a tfgen.data dataset: binarized_mnist, mnist (binarised afresh each epoch), "
                             "fashion_mnist (with --likelihood gaussian), digits (no download), omniglot "
                             "[default: %(default)s]")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs [default: %(default)s; the authors: 5000]")
    parser.add_argument("--batch-size", type=int, default=250,
                        help="examples per step, also the batch of the MMD [default: %(default)s, as the "
                             "authors]")
    parser.add_argument("--learning-rate", type=float, default=1e-4,
                        help="Adam's rate, beta_1 = 0.5 [default: %(default)s, as the authors]")
    parser.add_argument("--dual-learning-rate", type=float, default=1e-4,
                        help="RMSProp's rate on lagvae's multipliers [default: %(default)s, as the authors]")
    parser.add_argument("--eval-k", type=int, default=1000,
                        help="importance samples of the final test log-likelihood [default: %(default)s]")
    group = parser.add_argument_group("model (InfoVAEConfig, LagVAEConfig)")
    group.add_argument("--config", default=None, choices=list(_named_configs()),
                       help="named configuration the flags below override [default: the model's first]: "
                            + "; ".join(f"{name} ({', '.join(models)}): {fields}"
                                        for name, (models, fields) in _named_configs().items()))
    for name in ("e1", "e2"):
        help_text = " / ".join(tfgen_config.help_of(cls, name) for cls in (InfoVAEConfig, LagVAEConfig))
        defaults = f"{getattr(InfoVAEConfig(), name):g} infovae, {getattr(LagVAEConfig(), name):g} lagvae"
        group.add_argument(f"--{name}", type=float, default=None, dest=f"model_{name}", metavar=name.upper(),
                           help=f"{help_text} [default: {defaults}]")
    tfgen_config.add_arguments(parser, InfoVAEConfig, skip=("image_shape", "e1", "e2"))
    tfgen_config.add_arguments(parser, LagVAEConfig, skip=[f.name for f in dataclasses.fields(InfoVAEConfig)])


def _named_configs():
    """``{name: (models having it, its fields as text)}`` over both models' named configurations."""
    named = {}
    for model, registry in CONFIGS.items():
        for name, fields in registry.configs.items():
            text = ", ".join(f"{key}={','.join(map(str, value)) if isinstance(value, tuple) else value}"
                             for key, value in fields.items())
            named.setdefault(name, ([], text))[0].append(model)
    return named


def _check_args(args):
    for name in ("epochs", "batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    tfgen_config.check_float("--dual-learning-rate", args.dual_learning_rate, 0.0, strict=True)
    if args.method != "lagvae":
        given = [name for name in LAGVAE_ONLY if getattr(args, f"model_{name}", None) is not None]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} is for --method lagvae (an InfoVAE's "
                             "multipliers are its fixed weights e1, e2).")


def _config(args, spec):
    """The model's config: the named configuration, the flags, the dataset's image shape."""
    registry = CONFIGS[args.method]
    overrides = {f.name: getattr(args, f"model_{f.name}") for f in dataclasses.fields(registry.config_class)
                 if getattr(args, f"model_{f.name}", None) is not None}
    name = args.config or registry.names()[0]
    return registry.get(name, **overrides, image_shape=spec.shape, seed=args.seed)


def _pixels(images, spec):
    """Images as the model takes them: flat rows, 0/1 or intensities in [0, 1]."""
    x = images.reshape(len(images), -1)
    return x if spec.binary else x.astype("float32") / 255.0


def train(args):
    """Train an InfoVAE / LagVAE through the run driver; return the run's metrics."""
    _check_args(args)  # the flags first: a bad one is refused before TensorFlow loads
    import keras

    from tfgen import data, runs
    from zoo.infovae.family import FAMILY
    from zoo.infovae.model import InfoVAE, LagVAE, paper_dual_optimizer, paper_optimizer, unreachable_target

    spec = data.info(args.dataset)
    config = _config(args, spec)
    problem = args.method == "lagvae" and unreachable_target(config, args.batch_size)
    if problem:
        raise ValueError(f"--e2: {problem}")
    settings = settings_of(args, config)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume)
    keras.utils.set_random_seed(args.seed)
    images = data.load_images(args.dataset, "train")
    images, held_out = data.hold_out(args.dataset, images, args.validation_size)
    x, binarize = _pixels(images, spec), config.likelihood == "bernoulli" and not spec.binary
    validation = None if held_out is None else data.validation_batches(
        _pixels(held_out, spec), binarize=binarize, seed=args.seed)
    model = run.restore()
    if model is None:
        model = {"infovae": InfoVAE, "lagvae": LagVAE}[args.method](**dataclasses.asdict(config))
        model.build()  # the output bias starts at the data mean; for grey pixels binarised afresh,
        model.likelihood.set_bias_from_mean(x.mean(axis=0))  # their expectation
        model.compile(optimizer=paper_optimizer(args.learning_rate),
                      dual_optimizer=paper_dual_optimizer(args.dual_learning_rate))

    def epochs_from(first):
        return data.epoch_batches(x, args.batch_size, args.seed, first, args.epochs,
                                  dynamic_binarization=binarize)[0]

    run.fit(model, epochs_from, args.epochs, steps_per_epoch=math.ceil(len(x) / args.batch_size),
            max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every, verbose=args.verbose,
            validation_data=validation, pictures=FAMILY.pictures_of(validation, args.seed))

    figures = FAMILY.measure(model, FAMILY.test_data(model, settings, "test"), args.eval_k, seed=args.seed)
    key = f"test_log_likelihood_k{args.eval_k}"
    ll = figures.pop("log_likelihood")
    metrics = run.finish(model, **{key: ll}, **{f"{key}_{name}": value for name, value in figures.items()},
                         dataset=args.dataset)
    print(f"{args.method} mi={config.mi:g} e1={config.e1:g} e2={config.e2:g}: test log-likelihood (k = "
          f"{args.eval_k}) {ll:.2f} nats, consistency {figures['consistency']:.2f}, 10000*MMD "
          f"{figures['mmd']:.2f}, I_q(x;z) {figures['mutual_information']:.2f} nats -> "
          f"{args.out}/metrics.json")
    return metrics


VERBS = {"train": (add_train_arguments, train)}
