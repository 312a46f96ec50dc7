"""Gradient variance per parameter group (inference network / generative model) against k, for every
estimator, at fixed weights (docs/estimators.md, table and figure).

    python docs/scripts/estimator_variance.py measure --run runs/estimators/sbn_vimco \\
        --estimators reinforce reinforce_ma nvil vimco taylor concrete --out docs/figures/variance_sbn.json
    python docs/scripts/estimator_variance.py measure --run runs/estimators/iwae_total \\
        --estimators total path dreg reinforce vimco --draws 30 --warm 100 \\
        --out docs/figures/variance_iwae.json
    python docs/scripts/estimator_variance.py plot docs/figures/variance_sbn.json \\
        docs/figures/variance_iwae.json --out docs/figures/estimator_variance.png

(from the repository's root, with it on ``PYTHONPATH``).

For each estimator and k the run's model is rebuilt with that estimator and k (bound IWAE_k), given
the run's weights, and asked ``--draws`` times for the gradient a training step would apply
(:meth:`tfgen.model.LatentVariableModel.loss_and_gradients`) on one fixed batch of ``--batch``
training images; only the latent samples change between draws. Reported per group: the summed
per-parameter variance (the trace of the estimator's covariance), and the squared norm of the
mean gradient. Baselines are warmed first: ``--warm`` steps that train only NVIL's baseline
network and move the moving averages, the weights of the model fixed.
"""
import argparse
import json
import os
import time

KS = (1, 2, 5, 10, 50)


def measure(args):
    import keras
    import numpy as np
    import tensorflow as tf

    from tfgen import data, runs
    from zoo import families

    families.module(runs.read_json(os.path.join(args.run, "config.json"))["family"], "model")  # registers it
    source, settings = runs.load(args.run)
    images = data.load_images(settings["dataset"], "train")[:args.batch]
    x = tf.constant(images.reshape(len(images), -1).astype("float32"))
    weights = {v.path: v.numpy() for v in source.weights}
    results = {"run": args.run, "family": type(source).__name__, "batch": args.batch, "draws": args.draws,
               "warm": args.warm, "ks": list(KS), "estimators": {}}
    for estimator in args.estimators:
        rows = {}
        for k in KS:
            if estimator == "vimco" and k < 2:
                continue
            config = {**source.get_config(), "estimator": estimator, "k": k, "objective": "iwae", "seed": 1}
            model = type(source).from_config(config)
            model.build()
            for v in model.weights:
                if v.path in weights:
                    v.assign(weights[v.path])
            model.compile(optimizer=keras.optimizers.Adam(1e-3))
            step = tf.function(model.loss_and_gradients)
            start = time.time()
            if model.baseline is not None:
                baseline = model.baseline.trainable_variables
                index = [i for i, v in enumerate(model.trainable_variables) if "baseline" in v.path]
                for _ in range(args.warm):
                    gradients = step(x)[1]
                    if baseline:
                        model.optimizer.apply([gradients[i] for i in index], baseline)
            encoder = {id(v) for v in model.inference_variables()}
            groups = {"encoder": [], "decoder": []}
            for i, v in enumerate(model.trainable_variables):
                if "baseline" not in v.path:
                    groups["encoder" if id(v) in encoder else "decoder"].append(i)
            draws = {group: [] for group in groups}
            for _ in range(args.draws):
                gradients = step(x)[1]
                for group, index in groups.items():
                    draws[group].append(np.concatenate([np.ravel(gradients[i]) for i in index]))
            rows[k] = {group: {"variance": float(np.var(np.array(d), axis=0, ddof=1).sum()),
                               "mean_norm2": float(np.sum(np.mean(np.array(d), axis=0) ** 2))}
                       for group, d in draws.items()}
            rows[k]["seconds"] = round(time.time() - start, 1)
            print(f"{estimator:13s} k={k:3d} encoder var {rows[k]['encoder']['variance']:.4g} "
                  f"decoder var {rows[k]['decoder']['variance']:.4g} ({rows[k]['seconds']} s)", flush=True)
        results["estimators"][estimator] = rows
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


def plot(args):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    loaded = [json.load(open(file)) for file in args.files]
    fig, axes = plt.subplots(len(loaded), 2, figsize=(10, 3.6 * len(loaded)), squeeze=False)
    for row, result in zip(axes, loaded):
        for ax, group in zip(row, ("encoder", "decoder")):
            for estimator, rows in result["estimators"].items():
                ks = sorted(int(k) for k in rows)
                ax.plot(ks, [rows[str(k)][group]["variance"] for k in ks], marker="o", label=estimator)
            part = "inference network" if group == "encoder" else "generative model"
            ax.set(xscale="log", yscale="log", xlabel="k (samples per example)",
                   ylabel="summed gradient variance", title=f"{result['family']}: {part}")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"-> {args.out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    m = verbs.add_parser("measure")
    m.add_argument("--run", required=True, help="a finished run folder (tfgen train sbn / iwae)")
    m.add_argument("--estimators", nargs="+", required=True)
    m.add_argument("--batch", type=int, default=50, help="training images of the fixed batch [default: 50]")
    m.add_argument("--draws", type=int, default=50, help="gradient draws per estimator and k [default: 50]")
    m.add_argument("--warm", type=int, default=200, help="baseline warm-up steps [default: 200]")
    m.add_argument("--out", required=True)
    p = verbs.add_parser("plot")
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    (measure if args.verb == "measure" else plot)(args)


if __name__ == "__main__":
    main()
