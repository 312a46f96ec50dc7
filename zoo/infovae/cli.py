"""``tfgen infovae`` and ``tfgen lagvae``: the commands of Zhao, Song & Ermon's examples.

    tfgen infovae --mi=1.0 --e1=1.0 --e2=1.0 --epochs 5 --out runs/infovae
    tfgen lagvae --mi=1.0 --e1=86.0 --e2=5.0 --epochs 5 --out runs/lagvae

Each writes a run directory (:mod:`tfgen.runs`: ``config.json``, ``model.weights.h5``,
``metrics.json``, plus ``history.csv``). ``metrics.json`` holds the test-set means of every
logged metric (batches of ``--batch-size``, as in training: ``consistency``, ``mmd``, ...,
``lambda_*``, ``violation_*``), the mutual information ``I_q(x; z)`` over the first
``--mi-examples`` test images (:func:`zoo.infovae.mutual_information`), the final training
metrics and the wall time.
"""
import time

import keras
import numpy as np

from tfgen import data, runs
from zoo import infovae

MODELS = {"infovae": infovae.InfoVAE, "lagvae": infovae.LagVAE}


def register(commands):
    """Add ``infovae`` and ``lagvae`` to the ``tfgen`` sub-command parsers ``commands``."""
    for name, cls in MODELS.items():
        defaults = cls.config_class()
        kind = "fixed weights" if name == "infovae" else "targets"
        parser = commands.add_parser(name, help=f"train {cls.__name__} ({kind} e1, e2) and measure I_q(x; z)")
        parser.add_argument("--mi", type=float, default=defaults.mi,
                            help=f"weight of I_q(x;z): > 0 maximises, < 0 minimises (default {defaults.mi})")
        parser.add_argument("--e1", type=float, default=defaults.e1,
                            help=f"consistency (negative ELBO) {kind} (default {defaults.e1})")
        parser.add_argument("--e2", type=float, default=defaults.e2,
                            help=f"10000 * MMD {kind} (default {defaults.e2})")
        parser.add_argument("--dataset", default="binarized_mnist")
        parser.add_argument("--latent", type=int, default=defaults.latent)
        parser.add_argument("--hidden", default=",".join(map(str, defaults.hidden)),
                            help="hidden sizes of encoder and decoder, comma-separated (default 1024,1024)")
        parser.add_argument("--kernel", default=defaults.kernel, help="MMD kernel: authors, rbf or imq")
        parser.add_argument("--mmd-estimator", default=defaults.mmd_estimator, help="biased or unbiased")
        parser.add_argument("--epochs", type=int, default=5)
        parser.add_argument("--batch-size", type=int, default=250, help="default 250, as the authors")
        parser.add_argument("--learning-rate", type=float, default=1e-4,
                            help="Adam, beta_1 = 0.5 (default 1e-4)")
        parser.add_argument("--dual-learning-rate", type=float, default=1e-4,
                            help="RMSProp on the multipliers (LagVAE; default 1e-4)")
        parser.add_argument("--mi-examples", type=int, default=10000,
                            help="test images for the I_q(x; z) estimate (default 10000)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", default=f"runs/{name}")
        parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
        parser.add_argument("--verbose", type=int, default=2, help="Keras verbosity: 0, 1 or 2")


def train(args):
    """Train the model of ``args.command`` as ``args`` says; return the run's metrics."""
    for name in ("epochs", "batch_size", "mi_examples"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    spec = data.info(args.dataset)
    if not spec.binary:
        raise ValueError(
            f"{args.command} has a Bernoulli decoder: choose a binary dataset, not {args.dataset!r}."
        )
    try:
        hidden = tuple(int(u) for u in args.hidden.split(","))
    except ValueError as error:
        raise ValueError(f"--hidden must be comma-separated integers, got {args.hidden!r}.") from error
    cls = MODELS[args.command]
    config = dict(input_dim=int(np.prod(spec.shape)), latent=args.latent, hidden=hidden, mi=args.mi,
                  e1=args.e1, e2=args.e2, kernel=args.kernel, mmd_estimator=args.mmd_estimator,
                  seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    model = cls(**config)  # validates the hyper-parameters before any data is read
    runs.prepare_dir(args.out, args.overwrite)
    images = data.load_images(args.dataset, "train")
    model.adapt(images.reshape(len(images), -1))
    model.compile(optimizer=infovae.paper_optimizer(args.learning_rate),
                  dual_optimizer=infovae.paper_dual_optimizer(args.dual_learning_rate))
    train_data = data.load(args.dataset, "train", args.batch_size, seed=args.seed)
    start = time.time()
    history = model.fit(train_data, epochs=args.epochs, verbose=args.verbose,
                        callbacks=[keras.callbacks.CSVLogger(f"{args.out}/history.csv")])
    train_seconds = time.time() - start
    settings = {key: value for key, value in vars(args).items()
                if key not in ("command", "overwrite")}
    settings["model"] = args.command
    runs.save(model, args.out, settings)

    evaluation, mi, mi_examples = measure(model, args.dataset, args.batch_size, args.mi_examples, args.seed)
    metrics = runs.update_metrics(
        args.out,
        test=evaluation,
        test_shuffle_seed=args.seed,
        test_mutual_information=mi,
        mi_examples=mi_examples,
        dataset=args.dataset,
        epochs=args.epochs,
        train_seconds=round(train_seconds, 1),
        final_train={key: float(values[-1]) for key, values in history.history.items()},
    )
    print(f"{args.command} mi={args.mi} e1={args.e1} e2={args.e2}: test consistency "
          f"{evaluation['consistency']:.2f}, 10000*MMD {evaluation['mmd']:.2f}, I_q(x;z) {mi:.2f} nats "
          f"-> {args.out}/metrics.json")
    return metrics


def measure(model, dataset, batch_size=250, mi_examples=10000, seed=0):
    """Test-set metrics of a trained model: ``(means of the logged metrics, I_q(x; z), examples)``.

    The test images are shuffled (with ``seed``) first: ordered splits would give batches of
    one class, whose ``q(z)`` is far from ``p(z)``, and inflate the batch MMD. ``I_q`` uses
    the first ``mi_examples`` shuffled images (all if fewer; :func:`zoo.infovae.mutual_information`),
    and ``mi_examples`` is returned as the number used.
    """
    test = data.load_images(dataset, "test")
    test = test.reshape(len(test), -1).astype("float32")
    test = test[np.random.default_rng(seed).permutation(len(test))]
    if not hasattr(model, "dual_optimizer"):  # read back by tfgen.runs.load, never compiled
        model.compile(optimizer=infovae.paper_optimizer(), dual_optimizer=infovae.paper_dual_optimizer())
    evaluation = model.evaluate(test, batch_size=batch_size, verbose=0, return_dict=True)
    mi_examples = min(mi_examples, len(test))
    mi = infovae.mutual_information(model, test[:mi_examples], seed=seed)
    return {key: float(value) for key, value in evaluation.items()}, mi, mi_examples


HANDLERS = {name: train for name in MODELS}
