"""The ``tfgen`` command: ``tfgen train`` and ``tfgen evaluate``.

It lives in ``zoo`` because it builds zoo models; the library (``tfgen``) never imports the
zoo. The flags mirror Burda et al.'s ``experiments.py``::

    tfgen train --model iwae --dataset binarized_mnist --k 50 --layers 1 --estimator path --out runs/iwae
    tfgen train --model iwae --dataset binarized_mnist --k 50 --schedule paper --passes 40 --out runs/iwae
    tfgen train ... --schedule paper --checkpoint 3    # restart after stages 0..2, as the paper's code
    tfgen train --exp iwae_to_vae --init-from runs/vae --dataset binarized_mnist --out runs/iwae_to_vae
    tfgen evaluate runs/iwae --k 5000

``--schedule paper`` is Burda et al.'s 8 stages of ``3^i`` epochs (3280 passes; see
:mod:`tfgen.schedules`); ``--passes`` cuts it short, and ``metrics.json`` then says
``"truncated": true``. Checkpoints (``OUT/checkpoints``) hold weights, optimizer state,
epoch and sampling-noise state, so ``--resume`` / ``--checkpoint i`` continue exactly.
"""
import argparse
import os
import sys
import time

import keras

from tfgen import callbacks, data, objectives, runs, schedules
from zoo import distortion_cli, infovae_cli, iwae, iwae_paper, preset_cli, vrnn_cli
from zoo.presets import families

# Modules adding sub-commands: each has register(commands) and HANDLERS {command: function}.
COMMAND_MODULES = (preset_cli, vrnn_cli, infovae_cli, distortion_cli)

# CLI model name -> the objective of the IWAE-family model it trains.
MODELS = {"vae": "vae", "iwae": "iwae"}
# beta_1 of the published code's Adam (optimizers.py); the paper's text says 0.9.
CODE_BETA_1 = 0.99
CHECKPOINTS = "checkpoints"


def build_parser():
    parser = argparse.ArgumentParser(prog="tfgen", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a zoo model and report its test bound")
    train.add_argument("--model", default="iwae", help=f"one of {sorted(MODELS)} (default iwae)")
    train.add_argument("--dataset", default="digits",
                       help=f"one of {sorted(data.DATASETS)} (default digits, needs no download)")
    train.add_argument("--k", type=int, default=5, help="importance samples in training (default 5)")
    train.add_argument("--layers", type=int, default=1, help="stochastic layers, 1 or 2 (default 1)")
    train.add_argument("--estimator", default="total", help="gradient estimator: total or path")
    train.add_argument("--epochs", type=int, default=20, help="epochs of --schedule constant")
    train.add_argument("--batch-size", type=int, default=20, help="default 20, as the paper")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="rate of --schedule constant")
    train.add_argument("--schedule", default="constant", choices=["constant", "paper"],
                       help="constant: --epochs at --learning-rate; paper: Burda et al.'s 3280-pass stages")
    train.add_argument("--passes", type=int, default=None,
                       help="budget in epochs: truncates the schedule (labelled truncated in metrics.json)")
    train.add_argument("--beta-1", type=float, default=None,
                       help=f"Adam beta_1 (default 0.9 as the paper's text; {CODE_BETA_1} with "
                            "--schedule paper or --exp, as the published code)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--eval-k", type=int, default=None,
                       help="importance samples for the test estimate (default: the training k)")
    train.add_argument("--eval-every", type=int, default=None,
                       help="also estimate the test log-likelihood (--eval-k) every N epochs")
    train.add_argument("--out", default="runs/latest", help="run directory (default runs/latest)")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--checkpoint-every", type=int, default=None,
                       help="also checkpoint every N epochs (stage ends are always checkpointed)")
    train.add_argument("--checkpoint", type=int, default=None,
                       help="restart from checkpoint i (written after stages 0..i-1) of --out")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint of --out")
    train.add_argument("--exp", default="train", choices=["train", *iwae_paper.EXPERIMENTS],
                       help="iwae_to_vae / vae_to_iwae: warm start from --init-from (a 1-layer run)")
    train.add_argument("--init-from", default=None, help="run directory the --exp warm start starts from")
    train.add_argument("--verbose", type=int, default=1, help="Keras verbosity: 0, 1 (bars) or 2")

    evaluate = commands.add_parser("evaluate", help="re-estimate a saved run's log-likelihood")
    evaluate.add_argument("run", help="a run directory (tfgen train, vrnn-train, distortion-train), or a "
                                      "preset name, folder or URL")
    evaluate.add_argument("--k", type=int, default=None,
                          help="importance samples (default 5000; VRNN 1000; distortion-targeted 1: ELBO)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--batch-size", type=int, default=100)
    evaluate.add_argument("--every-nth", type=int, default=None,
                          help="only every N-th example of the split, a subset spread over the whole "
                               "split (keys get an _everyN suffix)")
    evaluate.add_argument("--remove-inactive", action="store_true",
                          help="also estimate it after deleting inactive units (doubles the time)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    evaluate.add_argument("--verbose", type=int, default=1)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _schedule(args):
    if args.exp != "train":
        return schedules.StagedSchedule([iwae_paper.WARM_START_STAGE], args.passes)
    if args.schedule == "paper":
        return schedules.StagedSchedule.burda(args.passes)
    return schedules.StagedSchedule([(args.epochs, args.learning_rate)], args.passes)


def _check_args(args):
    if args.model not in MODELS:
        raise ValueError(f"Unknown model {args.model!r}; choose one of {sorted(MODELS)}.")
    for name in ("epochs", "batch_size", "passes", "checkpoint_every", "eval_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    if args.checkpoint is not None and args.resume:
        raise ValueError("Pass either --checkpoint i or --resume, not both.")
    if args.exp != "train" and not args.init_from:
        raise ValueError(f"--exp {args.exp} needs --init-from, the run directory to start from.")
    if args.exp == "train" and args.init_from:
        raise ValueError("--init-from is only used with --exp iwae_to_vae or --exp vae_to_iwae.")


def _new_model(args, spec):
    if args.exp != "train":
        objective, k, _ = iwae_paper.EXPERIMENTS[args.exp]
        return iwae_paper.warm_start(args.init_from, objective, k, args.estimator, args.seed,
                          optimizer=_optimizer(args))
    config = iwae.IWAEConfig(input_dim=spec.shape[0] * spec.shape[1], layers=args.layers,
                             k=objectives.check_k(args.k), objective=MODELS[args.model],
                             estimator=args.estimator, seed=args.seed)
    model = iwae.IWAE(**vars(config))
    images = data.load_images(args.dataset, "train")
    model.adapt(images.reshape(len(images), -1) / (1.0 if spec.binary else 255.0))
    model.compile(optimizer=_optimizer(args))
    return model


def _optimizer(args):
    beta_1 = args.beta_1
    if beta_1 is None:
        beta_1 = CODE_BETA_1 if (args.schedule == "paper" or args.exp != "train") else 0.9
    return keras.optimizers.Adam(args.learning_rate, beta_1=beta_1, beta_2=0.999, epsilon=1e-4)


def train(args):
    _check_args(args)
    if args.exp != "train":  # the warm start fixes what is trained; record it in the settings
        args.model, args.k, _ = iwae_paper.EXPERIMENTS[args.exp]
        args.layers = 1
    spec = data.info(args.dataset)
    k = objectives.check_k(args.k)
    eval_k = objectives.check_k(args.eval_k if args.eval_k is not None else k)
    schedule = _schedule(args)
    checkpoints = os.path.join(args.out, CHECKPOINTS)
    keras.utils.set_random_seed(args.seed)
    resuming = args.checkpoint is not None or args.resume
    if resuming:
        name = "latest" if args.resume else f"stage{args.checkpoint}"
        model, state = callbacks.load_checkpoint(checkpoints, name)
        first_epoch, seconds_before = state["epoch"], state["train_seconds"]
        if args.checkpoint is not None and first_epoch != schedule.start_of(args.checkpoint):
            raise ValueError(f"Checkpoint {name} was written after {first_epoch} epochs, but stage "
                             f"{args.checkpoint} "
                             f"of this schedule starts at epoch {schedule.start_of(args.checkpoint)}.")
    else:
        model, first_epoch, seconds_before = _new_model(args, spec), 0, 0.0
    images = data.load_images(args.dataset, "train")
    if not resuming:  # only now, with the model and the data in hand, is anything written
        runs.prepare_dir(args.out, args.overwrite)
        callbacks.save_checkpoint(model, checkpoints, "stage0", 0)

    x = images.reshape(len(images), -1)
    x = x if spec.binary else x.astype("float32") / 255.0
    train_data, steps = callbacks.epoch_batches(x, args.batch_size, args.seed, first_epoch, schedule.epochs,
                                                dynamic_binarization=not spec.binary)
    test_data = data.load(args.dataset, "test", 100)
    evaluator = callbacks.MultiSampleEvaluation(test_data, eval_k, every=args.eval_every, seed=args.seed,
                                                metrics_dir=args.out)
    activity = callbacks.ActiveUnits(x[:iwae_paper.ACTIVITY_EXAMPLES], iwae_paper.posterior_means,
                                     every=args.eval_every, metrics_dir=args.out)

    start = time.time()
    history = model.fit(
        train_data, epochs=schedule.epochs, initial_epoch=first_epoch, steps_per_epoch=steps,
        verbose=args.verbose, callbacks=[
            keras.callbacks.LearningRateScheduler(schedule),
            # Evaluations write into the epoch's logs before History (added last by Keras),
            # TensorBoard and CSVLogger read them.
            evaluator,
            activity,
            callbacks.TrainingCheckpoint(checkpoints, schedule, args.checkpoint_every, seconds_before),
            keras.callbacks.TensorBoard(f"{args.out}/logs"),
            keras.callbacks.CSVLogger(f"{args.out}/history.csv", append=first_epoch > 0),
        ])
    train_seconds = time.time() - start
    settings = {key: value for key, value in vars(args).items()
                if key not in ("command", "overwrite", "checkpoint", "resume")}
    runs.save(model, args.out, settings)
    ll = history.history[evaluator.key][-1]
    metrics = runs.update_metrics(
        args.out,
        test_log_likelihood=float(ll),
        k=eval_k,
        dataset=args.dataset,
        epochs=schedule.epochs,
        schedule=schedule.describe(),
        train_seconds=round(seconds_before + train_seconds, 1),  # up to its checkpoint, if resumed
        final_train={key: float(values[-1]) for key, values in history.history.items()},
    )
    print(f"test log-likelihood (k = {eval_k}): {ll:.2f} nats  -> {args.out}/metrics.json")
    return metrics


def evaluate(args):
    """The test figure of the model's family (:mod:`zoo.presets.families`: ``log p(x)`` with k
    samples; per time step for a VRNN; the ELBO, distortion and rate of a distortion-targeted VAE),
    active units, and optionally ``log p(x)`` without the inactive units."""
    model, settings, run_dir = preset_cli.load_model(args.run)
    family = families.of(model)
    k = objectives.check_k(family.default_k if args.k is None else args.k)

    def record(**values):  # a preset's folder is never written to
        if run_dir:
            runs.update_metrics(run_dir, **values)

    split_data = family.test_data(settings, args.split, args.batch_size)
    key = f"{args.split}_log_likelihood_k{k}"
    if args.every_nth is not None:
        if args.every_nth < 1:
            raise ValueError(f"--every-nth must be >= 1, got {args.every_nth}.")
        split_data = split_data.unbatch().shard(args.every_nth, 0).batch(args.batch_size)
        key += f"_every{args.every_nth}"
    start = time.time()
    figures = family.measure(model, split_data, k, seed=args.seed, verbose=args.verbose)
    value = figures.pop("log_likelihood")
    record(**{key: value, f"{key}_seconds": round(time.time() - start, 1)},
           **{f"{key}_{name}": figure for name, figure in figures.items()})
    print(f"{args.split} log-likelihood (k = {k}): {value:.2f} {family.unit}")
    for name, figure in figures.items():
        print(f"  {name}: {figure:.4f}")
    if isinstance(model, iwae.IWAE):
        images = data.load_images(settings["dataset"], "train")[:iwae_paper.ACTIVITY_EXAMPLES]
        scale = 1.0 if data.info(settings["dataset"]).binary else 255.0
        activity = callbacks.ActiveUnits(images.reshape(len(images), -1) / scale, iwae_paper.posterior_means)
        activity.set_model(model)
        counts, masks, _ = activity.measure()
        record(active_units=counts)
        print(f"active units: {counts}")
        if args.remove_inactive:
            iwae_paper.remove_inactive_units(model, masks)
            start = time.time()
            pruned = family.measure(model, split_data, k, args.seed, args.verbose)["log_likelihood"]
            seconds = round(time.time() - start, 1)
            record(**{f"{key}_inactive_removed": pruned, f"{key}_inactive_removed_seconds": seconds})
            print(f"{args.split} log-likelihood without inactive units (k = {k}): {pruned:.2f} nats")
    if run_dir:
        print(f"-> {run_dir}/metrics.json")
    return value


def main(argv=None):
    args = build_parser().parse_args(argv)
    handlers = {"train": train, "evaluate": evaluate}
    for module in COMMAND_MODULES:
        handlers.update(module.HANDLERS)
    try:
        handlers[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"tfgen {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
