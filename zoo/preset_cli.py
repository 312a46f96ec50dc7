"""``tfgen list | sample | preset | tune``: the preset registry, samples, preset building, search.

::

    tfgen list
    tfgen sample iwae_digits_k5_l1 --num 64 --out grid.png     # a preset name, folder, URL or run dir
    tfgen sample vrnn_jsb_fivo_k4 --steps 64 --out roll.png     # a VRNN: one piano roll
    tfgen preset runs/iwae --name iwae_binarized_mnist_k50_l1   # run dir -> zoo/presets/<name>
    tfgen tune --dataset digits --max-trials 10 --epochs 20 --out runs/tune
"""
import json
import os

import keras
import numpy as np

from tfgen import data, presets, runs
from zoo import iwae
from zoo import presets as zoo_presets
from zoo.presets import build, families


def register(commands):
    """Add the subcommands to ``commands`` (the ``tfgen`` argparse subparsers)."""
    commands.add_parser("list", help="list the registered pretrained presets")

    sample = commands.add_parser("sample", help="draw samples from a preset or run into a PNG")
    sample.add_argument("source", help="a preset name, preset folder, URL, or a run directory")
    sample.add_argument("--num", type=int, default=None, help="samples (default 64 images, 1 sequence)")
    sample.add_argument("--steps", type=int, default=None, help="steps of a sequence sample (default 64)")
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--out", default="samples.png")
    sample.add_argument("--scale", type=int, default=4, help="pixels per image pixel in the PNG (default 4)")

    preset = commands.add_parser("preset", help="package a run directory as a registered preset")
    preset.add_argument("run", help="a directory written by tfgen train, vrnn-train or distortion-train")
    preset.add_argument("--name", required=True, help="the preset's name, e.g. iwae_digits_k5_l1")
    preset.add_argument("--k", type=int, default=None,
                        help="samples of the recorded test figure (default 5000; VRNN 1000; distortion 1)")
    preset.add_argument("--description", default="")
    preset.add_argument("--command", default=None, dest="train_command",
                        help="the command that trained the run (default: rebuilt from its settings)")
    preset.add_argument("--directory", default=zoo_presets.DIRECTORY, help="where preset folders go")
    preset.add_argument("--reuse-evaluation", action="store_true",
                        help="record the k-sample figure `tfgen evaluate RUN --k K` already measured")
    preset.add_argument("--seed", type=int, default=0, help="seed of the measurements (default 0)")
    preset.add_argument("--verbose", type=int, default=1)

    tune = commands.add_parser("tune", help="keras-tuner search of an IWAE-family model on a dataset")
    tune.add_argument("--dataset", default="digits")
    tune.add_argument("--layers", type=int, default=1)
    tune.add_argument("--objective", nargs="+", default=["iwae"], help="choices among vae, iwae")
    tune.add_argument("--k", type=int, nargs="+", default=[1, 5], help="choices of training k")
    tune.add_argument("--units", type=int, nargs="+", default=[100, 200], help="choices of hidden width")
    tune.add_argument("--learning-rate", type=float, nargs=2, default=[1e-4, 1e-2], metavar=("LOW", "HIGH"))
    tune.add_argument("--eval-k", type=int, default=100, help="samples of the held-out bound (objective)")
    tune.add_argument("--max-trials", type=int, default=10)
    tune.add_argument("--epochs", type=int, default=20)
    tune.add_argument("--batch-size", type=int, default=20)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", default="runs/tune", help="keras-tuner directory; best.json goes here")
    tune.add_argument("--verbose", type=int, default=1)


def load_model(source):
    """``(model, settings, run_dir)``: a run directory (``run_dir`` set) or a preset (``None``)."""
    if os.path.isdir(source) and not os.path.exists(os.path.join(source, presets.METADATA)):
        model, settings = runs.load(source)
        return model, settings, source
    folder = presets.resolve(source)
    return zoo_presets.load(folder), zoo_presets.read_config(folder)["settings"], None


def list_presets(args):
    rows = [("name", "dataset", "objective", "k", "test LL (k)", "passes")]
    for name, meta in zoo_presets.available().items():
        ll = meta.get("test_log_likelihood")
        unit = meta.get("test_unit", "nats")
        suffix = "" if unit == "nats" else f" {unit}"  # image presets: nats per example, left implicit
        figure = "-" if ll is None else f"{ll:.2f} ({meta.get('test_k')}){suffix}"
        rows.append((name, str(meta.get("dataset")), str(meta.get("objective")), str(meta.get("k")), figure,
                     str(meta.get("passes"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return rows[1:]


def sample(args):
    for name in ("num", "steps", "scale"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}.")
    model, settings, _ = load_model(args.source)
    drawn = families.of(model).sample(model, settings, args.out, num=args.num, seed=args.seed,
                                      scale=args.scale, steps=args.steps)
    print(f"sample {np.shape(drawn)} -> {args.out}")
    return drawn


def preset(args):
    return build.build(args.run, args.name, k=args.k, directory=args.directory, description=args.description,
                       command=args.train_command, verbose=args.verbose,
                       reuse_evaluation=args.reuse_evaluation, seed=args.seed)


def tune(args):
    import keras_tuner

    from tfgen import tuning

    bad = set(args.objective) - {"vae", "iwae"}
    if bad:
        raise ValueError(f"--objective choices must be vae or iwae, got {sorted(bad)}.")
    for name in ("max_trials", "epochs", "batch_size", "eval_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    spec = data.info(args.dataset)
    input_dim = spec.shape[0] * spec.shape[1]
    images = data.load_images(args.dataset, "train")
    mean = images.reshape(len(images), -1).mean(axis=0) / (1.0 if spec.binary else 255.0)

    def build_model(units, **config):
        model = iwae.IWAE(input_dim=input_dim, layers=args.layers, seed=args.seed,
                          hidden=tuple((units, units) for _ in range(args.layers)), **config)
        model.adapt(mean[None])
        return model

    keras.utils.set_random_seed(args.seed)
    hypermodel = tuning.BoundHyperModel(
        build_model,
        {"learning_rate": tuple(args.learning_rate), "k": args.k, "objective": args.objective,
         "units": args.units},
        validation_data=data.load(args.dataset, "validation", 100),
        eval_k=args.eval_k, optimizer=iwae.paper_optimizer)
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


HANDLERS = {"list": list_presets, "sample": sample, "preset": preset, "tune": tune}
