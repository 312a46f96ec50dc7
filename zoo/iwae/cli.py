"""VAE / IWAE (Burda et al. 2016): ``tfgen train iwae`` and ``tfgen tune iwae``.

The flags mirror Burda et al.'s ``experiments.py``::

    tfgen train iwae --dataset binarized_mnist --k 50 --estimator path --out runs/iwae
    tfgen train iwae --dataset binarized_mnist --k 50 --schedule paper --passes 40 --out runs/iwae
    tfgen train iwae ... --schedule paper --from-stage 3   # restart after stages 0..2, as the paper's code
    tfgen train iwae --exp iwae_to_vae --init-from runs/vae --dataset binarized_mnist --out runs/iwae_to_vae
    tfgen train iwae --dataset fashion_mnist --config gaussian --objective vae --out runs/fashion
    tfgen tune iwae --dataset digits --max-trials 10 --epochs 20 --out runs/tune

``--schedule paper`` is Burda et al.'s 8 stages of ``3^i`` epochs (3280 passes; see
:mod:`tfgen.schedules`); ``--passes`` cuts it short, and ``metrics.json`` then says
``"truncated": true``.
"""
import dataclasses

from tfgen import config as tfgen_config
from zoo.families import settings_of
from zoo.iwae.configs import CONFIGS, IWAEConfig

# beta_1 of the published code's Adam (optimizers.py); the paper's text says 0.9.
CODE_BETA_1 = 0.99
EXPERIMENTS = ("train", "iwae_to_vae", "vae_to_iwae")


def add_train_arguments(parser):
    parser.add_argument("--dataset", default="digits",
                        help="a tfgen.data dataset: digits (no download), binarized_mnist, mnist, "
                             "fashion_mnist, omniglot, or Burda et al.'s protocols BinFixMNIST, MNIST "
                             "(dynamic binarisation, 59,600 / 400 train / validation), OMNI "
                             "[default: %(default)s]")
    parser.add_argument("--train-size", type=int, default=None,
                        help="train on a random subset of this many training images (seeded by --seed) "
                             "[default: all]")
    parser.add_argument("--epochs", type=int, default=20,
                        help="epochs of --schedule constant [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=20, help="examples per step [default: %(default)s, "
                                                                    "as Burda et al.]")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's rate for --schedule constant [default: %(default)s]")
    parser.add_argument("--schedule", default="constant", choices=["constant", "paper", "geometric"],
                        help="constant: --epochs at --learning-rate; paper: Burda et al.'s 3280-pass stages; "
                             "geometric: --epochs in 10 stages falling from --learning-rate to "
                             "--final-learning-rate [default: %(default)s]")
    parser.add_argument("--final-learning-rate", type=float, default=None,
                        help="the last stage's rate of --schedule geometric [default: --learning-rate / 10]")
    parser.add_argument("--passes", type=int, default=None,
                        help="budget in epochs: truncates --schedule paper (labelled truncated in "
                             "metrics.json) [default: the whole schedule]")
    parser.add_argument("--beta-1", type=float, default=None,
                        help=f"Adam beta_1 [default: 0.9 as the paper's text; {CODE_BETA_1} with --schedule "
                             "paper or --exp, as the published code]")
    parser.add_argument("--eval-k", type=int, default=None,
                        help="importance samples of the final test estimate [default: the training k]")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="also estimate the log-likelihood (--eval-k) of the --validation-size held-out "
                             "examples every N epochs [default: never]")
    parser.add_argument("--patience", type=int, default=None,
                        help="early stopping: stop after this many --eval-every evaluations without "
                             "improvement and keep the best weights [default: no early stopping]")
    parser.add_argument("--from-stage", type=int, default=None,
                        help="restart from the checkpoint written after stages 0..i-1 of --schedule paper "
                             "(Burda et al.'s --checkpoint i) [default: none]")
    parser.add_argument("--exp", default="train", choices=EXPERIMENTS,
                        help="iwae_to_vae / vae_to_iwae: warm start from --init-from, a 1-layer run "
                             "[default: %(default)s]")
    parser.add_argument("--init-from", default=None,
                        help="run directory the --exp warm start starts from [default: none]")
    tfgen_config.add_arguments(parser, IWAEConfig, CONFIGS, skip=("image_shape",))


def add_evaluate_arguments(parser):
    parser.add_argument("--remove-inactive", action="store_true",
                        help="iwae family: also estimate it after deleting inactive units (doubles the "
                             "time) [default: off]")


def _schedule(args):
    from tfgen import schedules
    from zoo.iwae import protocol

    if args.exp != "train":
        return schedules.StagedSchedule([protocol.WARM_START_STAGE], args.passes)
    if args.schedule == "paper":
        return schedules.StagedSchedule.burda(args.passes)
    if args.schedule == "geometric":
        final = args.learning_rate / 10 if args.final_learning_rate is None else args.final_learning_rate
        return schedules.StagedSchedule.geometric(args.epochs, args.learning_rate, final)
    return schedules.StagedSchedule([(args.epochs, args.learning_rate)], args.passes)


def _config(args, spec):
    """The model's config from the flags; the image shape is the dataset's."""
    from zoo.iwae import protocol

    config = tfgen_config.from_arguments(args, IWAEConfig, CONFIGS)
    overrides = {"image_shape": spec.shape, "seed": args.seed}
    if args.exp != "train":  # the warm start fixes what is trained
        overrides["objective"], overrides["k"] = protocol.EXPERIMENTS[args.exp]
        overrides["layers"] = 1
    return dataclasses.replace(config, **overrides)


def _check_args(args):
    for name in ("epochs", "batch_size", "passes", "eval_every", "eval_k", "train_size", "patience"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    tfgen_config.check_float("--learning-rate", args.learning_rate, 0.0, strict=True)
    if args.final_learning_rate is not None:
        tfgen_config.check_float("--final-learning-rate", args.final_learning_rate, 0.0, strict=True)
    if args.beta_1 is not None:
        tfgen_config.check_float("--beta-1", args.beta_1, 0.0, 1.0)
    if args.from_stage is not None and (args.schedule != "paper" or args.from_stage < 1):
        raise ValueError(f"--from-stage restarts stage i >= 1 of --schedule paper, got {args.from_stage} "
                         f"with --schedule {args.schedule}.")
    if args.eval_every and not args.validation_size:
        raise ValueError("--eval-every estimates the log-likelihood of the held-out examples: give "
                         "--validation-size > 0.")
    if args.patience is not None and args.eval_every is None:
        raise ValueError("--patience stops on the validation log-likelihood: give --eval-every N too.")
    if args.exp != "train" and not args.init_from:
        raise ValueError(f"--exp {args.exp} needs --init-from, the run directory to start from.")
    if args.exp == "train" and args.init_from:
        raise ValueError("--init-from is only used with --exp iwae_to_vae or --exp vae_to_iwae.")


def _pixels(images, spec):
    """Images as the model takes them: flat rows, 0/1 or intensities in [0, 1]."""
    x = images.reshape(len(images), -1)
    return x if spec.binary else x.astype("float32") / 255.0


def _optimizer(args):
    from zoo.iwae.model import paper_optimizer

    beta_1 = args.beta_1
    if beta_1 is None:
        beta_1 = CODE_BETA_1 if (args.schedule == "paper" or args.exp != "train") else 0.9
    return paper_optimizer(args.learning_rate, beta_1=beta_1)


def train(args):
    """Train a VAE / IWAE through the run driver; return the run's metrics."""
    _check_args(args)  # the flags first: a bad one is refused before TensorFlow loads
    import keras
    import numpy as np

    from tfgen import callbacks, data, runs
    from zoo.iwae import protocol
    from zoo.iwae.family import FAMILY
    from zoo.iwae.model import IWAE

    spec = data.info(args.dataset)
    config = _config(args, spec)
    eval_k = tfgen_config.check_k(args.eval_k if args.eval_k is not None else config.k)
    schedule = _schedule(args)
    settings = settings_of(args, config, exclude=("from_stage",))
    resume_epoch = None if args.from_stage is None else schedule.start_of(args.from_stage)
    run = runs.Run(args.out, settings, FAMILY.name, overwrite=args.overwrite, resume=args.resume,
                   resume_epoch=resume_epoch)
    keras.utils.set_random_seed(args.seed)
    images = data.load_images(args.dataset, "train")
    if args.train_size is not None and args.train_size < len(images):
        images = images[np.sort(np.random.default_rng(args.seed).choice(len(images), args.train_size, False))]
    images, held_out = data.hold_out(args.dataset, images, args.validation_size)
    x = _pixels(images, spec)
    model = run.restore()
    if model is None:
        if args.exp != "train":
            model = protocol.warm_start(args.init_from, config.objective, config.k, config.estimator,
                                        args.seed, optimizer=_optimizer(args))
        else:
            model = IWAE(**dataclasses.asdict(config))
            model.build()  # the output bias starts at the data mean (Burda et al.): for dynamically
            model.likelihood.set_bias_from_mean(x.mean(axis=0))  # binarised pixels, their expectation
            model.compile(optimizer=_optimizer(args))
    binarize = config.likelihood == "bernoulli" and not spec.binary

    def epochs_from(first):
        return data.epoch_batches(x, args.batch_size, args.seed, first, schedule.epochs,
                                  dynamic_binarization=binarize)[0]

    validation = None if held_out is None else data.validation_batches(
        _pixels(held_out, spec), binarize=binarize, seed=args.seed)
    family_callbacks = [keras.callbacks.LearningRateScheduler(schedule)]
    if args.eval_every:
        family_callbacks.append(callbacks.MultiSampleEvaluation(validation, eval_k, every=args.eval_every,
                                                                name="val", seed=args.seed))
    run.fit(model, epochs_from, schedule.epochs, steps_per_epoch=-(-len(x) // args.batch_size),
            callbacks=family_callbacks, max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every,
            keep_epochs=schedule.boundaries, verbose=args.verbose, validation_data=validation,
            pictures=FAMILY.pictures_of(validation, args.seed),
            monitor=f"val_log_likelihood_k{eval_k}" if args.patience else None, patience=args.patience)

    test = FAMILY.test_data(model, settings, "test")
    ll = FAMILY.measure(model, test, eval_k, seed=args.seed, verbose=0)["log_likelihood"]
    counts = protocol.active_unit_counts(model, x[:protocol.ACTIVITY_EXAMPLES])
    metrics = run.finish(model, **{f"test_log_likelihood_k{eval_k}": ll}, active_units=counts,
                         dataset=args.dataset, schedule=schedule.describe())
    print(f"test log-likelihood (k = {eval_k}): {ll:.2f} nats  -> {args.out}/metrics.json")
    return metrics


def add_tune_arguments(parser):
    parser.add_argument("--dataset", default="digits", help="a tfgen.data dataset [default: %(default)s]")
    parser.add_argument("--layers", type=int, default=1, help="stochastic layers [default: %(default)s]")
    parser.add_argument("--objective", nargs="+", default=["iwae"], choices=["vae", "iwae"],
                        help="bounds to choose among [default: iwae]")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5],
                        help="choices of training k [default: 1 5]")
    parser.add_argument("--units", type=int, nargs="+", default=[100, 200],
                        help="choices of hidden width [default: 100 200]")
    parser.add_argument("--learning-rate", type=float, nargs=2, default=[1e-4, 1e-2], metavar=("LOW", "HIGH"),
                        help="log-uniform range of Adam's rate [default: 1e-4 1e-2]")
    parser.add_argument("--eval-k", type=int, default=100,
                        help="samples of the held-out bound, the objective [default: %(default)s]")
    parser.add_argument("--max-trials", type=int, default=10, help="trials [default: %(default)s]")
    parser.add_argument("--train-size", type=int, default=None,
                        help="train on a random subset of this many training images (seeded by --seed) "
                             "[default: all]")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per trial [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=20, help="examples per step [default: %(default)s]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search and the models [default: 0]")
    parser.add_argument("--out", default="runs/tune",
                        help="keras-tuner directory; best.json goes here [default: %(default)s]")
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                        help="Keras verbosity [default: %(default)s]")


def tune(args):
    """A keras-tuner random search of IWAE-family models scored by a held-out IWAE_k bound."""
    import json
    import os

    import keras
    import keras_tuner

    from tfgen import data, runs, tuning
    from zoo.iwae.model import IWAE, paper_optimizer

    for name in ("max_trials", "epochs", "batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    spec = data.info(args.dataset)
    runs.check_search_settings(args.out, settings_of(args))
    images = data.load_images(args.dataset, "train")
    mean = images.reshape(len(images), -1).mean(axis=0) / (1.0 if spec.binary else 255.0)

    def build_model(units, **config):
        model = IWAE(image_shape=spec.shape, layers=args.layers, seed=args.seed,
                     hidden=tuple((units, units) for _ in range(args.layers)), **config)
        if not model.built:
            model.build()
        model.likelihood.set_bias_from_mean(mean)
        return model

    keras.utils.set_random_seed(args.seed)
    hypermodel = tuning.BoundHyperModel(
        build_model,
        {"learning_rate": tuple(args.learning_rate), "k": args.k, "objective": args.objective,
         "units": args.units},
        validation_data=data.load(args.dataset, "validation", 100),
        eval_k=args.eval_k, optimizer=paper_optimizer)
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=args.max_trials,
                                     seed=args.seed, directory=args.out, project_name="search")
    tuner.search(data.load(args.dataset, "train", args.batch_size, seed=args.seed), epochs=args.epochs,
                 verbose=args.verbose)
    best = tuner.oracle.get_best_trials(1)[0]
    result = {"objective": hypermodel.objective.name, "score": best.score, "trial_id": best.trial_id,
              "hyperparameters": best.hyperparameters.values, "dataset": args.dataset,
              "max_trials": args.max_trials, "epochs": args.epochs}
    runs.write_json(os.path.join(args.out, "best.json"), result)
    print(f"best trial {best.trial_id}: {hypermodel.objective.name} = {best.score:.3f} with "
          f"{json.dumps(best.hyperparameters.values)}  -> {args.out}/best.json")
    return result


VERBS = {"train": (add_train_arguments, train), "tune": (add_tune_arguments, tune)}
