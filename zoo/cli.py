"""The ``tfgen`` command: ``tfgen train`` and ``tfgen evaluate``.

It lives in ``zoo`` because it builds zoo models; the library (``tfgen``) never imports the
zoo. The flags mirror Burda et al.'s ``experiments.py``::

    tfgen train --model iwae --dataset binarized_mnist --k 50 --layers 1 --estimator path --out runs/iwae
    tfgen evaluate runs/iwae --k 5000
"""
import argparse
import sys
import time

import keras

from tfgen import data, evaluation, objectives, runs
from zoo import distortion_cli, infovae_cli, iwae, preset_cli, vrnn_cli

# CLI model name -> the objective of the IWAE-family model it trains.
MODELS = {"vae": "vae", "iwae": "iwae"}


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
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=20, help="default 20, as the paper")
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--eval-k", type=int, default=None,
                       help="importance samples for the test estimate (default: the training k)")
    train.add_argument("--out", default="runs/latest", help="run directory (default runs/latest)")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--verbose", type=int, default=1, help="Keras verbosity: 0, 1 (bars) or 2")

    evaluate = commands.add_parser("evaluate", help="re-estimate a saved run's log-likelihood")
    evaluate.add_argument("run", help="a directory written by tfgen train, or a preset name, folder or URL")
    evaluate.add_argument("--k", type=int, default=5000, help="importance samples (default 5000)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--batch-size", type=int, default=100)
    evaluate.add_argument("--verbose", type=int, default=1)
    preset_cli.register(commands)
    vrnn_cli.register(commands)
    infovae_cli.register(commands)
    distortion_cli.register(commands)
    return parser


def train(args):
    if args.model not in MODELS:
        raise ValueError(f"Unknown model {args.model!r}; choose one of {sorted(MODELS)}.")
    spec = data.info(args.dataset)
    k = objectives.check_k(args.k)
    eval_k = objectives.check_k(args.eval_k if args.eval_k is not None else k)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    keras.utils.set_random_seed(args.seed)
    model = iwae.IWAE(input_dim=spec.shape[0] * spec.shape[1], layers=args.layers, k=k,
                      objective=MODELS[args.model], estimator=args.estimator, seed=args.seed)
    train_data = data.load(args.dataset, "train", args.batch_size, seed=args.seed)
    test_data = data.load(args.dataset, "test", 100)
    images = data.load_images(args.dataset, "train")
    runs.prepare_dir(args.out, args.overwrite)
    model.adapt(images.reshape(len(images), -1) / (1.0 if spec.binary else 255.0))
    model.compile(optimizer=iwae.paper_optimizer(args.learning_rate))

    start = time.time()
    # shuffle=False: the dataset reshuffles itself every epoch (tfgen.data.load).
    history = model.fit(train_data, epochs=args.epochs, verbose=args.verbose, shuffle=False, callbacks=[
        keras.callbacks.TensorBoard(f"{args.out}/logs"),
        keras.callbacks.CSVLogger(f"{args.out}/history.csv"),
    ])
    train_seconds = time.time() - start
    settings = {key: value for key, value in vars(args).items() if key not in ("command", "overwrite")}
    runs.save(model, args.out, settings)

    print(f"Estimating the test log-likelihood with k = {eval_k} ...")
    ll = evaluation.log_likelihood(model, test_data, k=eval_k, verbose=args.verbose).mean()
    metrics = runs.update_metrics(
        args.out,
        test_log_likelihood=float(ll),
        k=eval_k,
        dataset=args.dataset,
        epochs=args.epochs,
        train_seconds=round(train_seconds, 1),
        final_train={key: float(values[-1]) for key, values in history.history.items()},
    )
    print(f"test log-likelihood (k = {eval_k}): {ll:.2f} nats  -> {args.out}/metrics.json")
    return metrics


def evaluate(args):
    k = objectives.check_k(args.k)
    model, settings, run_dir = preset_cli.load_model(args.run)
    split_data = data.load(settings["dataset"], args.split, args.batch_size)
    start = time.time()
    ll = evaluation.log_likelihood(model, split_data, k=k, verbose=args.verbose).mean()
    key = f"{args.split}_log_likelihood_k{k}"
    print(f"{args.split} log-likelihood (k = {k}): {ll:.2f} nats")
    if run_dir:  # a preset's folder is never written to
        runs.update_metrics(run_dir, **{key: float(ll), f"{key}_seconds": round(time.time() - start, 1)})
    return ll


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        handlers = {"train": train, "evaluate": evaluate, **preset_cli.HANDLERS, **vrnn_cli.HANDLERS,
                    **distortion_cli.HANDLERS}
        (getattr(args, "handler", None) or handlers[args.command])(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"tfgen {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
