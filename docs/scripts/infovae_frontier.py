"""Mutual information vs consistency for InfoVAE and LagVAE (Zhao, Song & Ermon 2018, fig. 3).

Train the grids (each family sequentially in one process; a finished run is skipped, so an
interrupted job resumes where it stopped), then plot from the run directories::

    python docs/scripts/infovae_frontier.py train infovae --epochs 8 --hidden 256,256 --runs runs/frontier
    python docs/scripts/infovae_frontier.py train lagvae --epochs 8 --hidden 256,256 --runs runs/frontier
    python docs/scripts/infovae_frontier.py plot --runs runs/frontier --out docs/figures/infovae_frontier.png

Every run is a ``tfgen infovae`` / ``tfgen lagvae`` command (printed before it starts) and
leaves a :mod:`tfgen.runs` directory; the plot reads ``metrics.json``: the test-set
consistency (negative ELBO), the rate and ``I_q(x; z)`` over 10000 test images. ``measure``
re-measures runs written before the CLI shuffled the test set (see ``zoo.infovae_cli.measure``)::

    python docs/scripts/infovae_frontier.py measure --runs runs/frontier
"""
import argparse
import glob
import json
import math
import os
import sys

# InfoVAE: fixed weights l1 = e1 (and l2 = e2 = 1, the README's example); mi = +1 / -1 with
# e1 in 0.2 .. 20 spans D + beta R for beta = e1 / (e1 + 1) < 1 and beta = (e1 + 1) / e1 > 1.
GRIDS = {
    "infovae": [(-1.0, 0.5, 1.0), (1.0, 20.0, 1.0)]
    + [(mi, e1, 1.0) for mi in (1.0, -1.0) for e1 in (1.0, 0.2, 5.0)] + [(0.0, 1.0, 1.0)],
    # LagVAE: targets e1 on the negative ELBO, 10000 * MMD <= 5 (the README's e2).
    "lagvae": [(1.0, 125.0, 5.0), (-1.0, 125.0, 5.0), (-1.0, 110.0, 5.0), (1.0, 110.0, 5.0),
               (1.0, 140.0, 5.0), (-1.0, 140.0, 5.0), (-1.0, 150.0, 5.0), (1.0, 130.0, 5.0)],
}


def run_name(family, mi, e1, e2):
    return f"{family}_mi{mi:+g}_e1{e1:g}_e2{e2:g}"


def train(args):
    from zoo import cli  # imported here so `plot` needs no TensorFlow

    for mi, e1, e2 in GRIDS[args.family]:
        out = os.path.join(args.runs, run_name(args.family, mi, e1, e2))
        if os.path.exists(os.path.join(out, "metrics.json")):
            print(f"skip {out}: done", flush=True)
            continue
        argv = [args.family, f"--mi={mi}", f"--e1={e1}", f"--e2={e2}", "--epochs", str(args.epochs),
                "--learning-rate", str(args.learning_rate),
                "--dual-learning-rate", str(args.dual_learning_rate),
                "--hidden", args.hidden,
                "--out", out, "--overwrite", "--verbose", "2"]
        print("tfgen " + " ".join(argv), flush=True)
        if cli.main(argv) != 0:
            return 1
    return 0


def measure(args):
    """Re-measure runs whose metrics predate shuffling the test set (``test_shuffle_seed``)."""
    import zoo.infovae  # noqa: F401  (registers the classes tfgen.runs.load rebuilds)
    from tfgen import runs
    from zoo import infovae_cli

    for path in sorted(glob.glob(os.path.join(args.runs, "*", "metrics.json"))):
        run = os.path.dirname(path)
        if "test_shuffle_seed" in runs.read_metrics(run):
            continue
        model, settings = runs.load(run)
        evaluation, mi, n = infovae_cli.measure(model, settings["dataset"], settings["batch_size"],
                                                settings["mi_examples"], settings["seed"])
        runs.update_metrics(run, test=evaluation, test_mutual_information=mi, mi_examples=n,
                            test_shuffle_seed=settings["seed"])
        print(f"re-measured {run}: consistency {evaluation['consistency']:.2f}, "
              f"10000*MMD {evaluation['mmd']:.2f}, I_q {mi:.2f}", flush=True)
    return 0


def load_points(runs_dir):
    points = []
    for path in sorted(glob.glob(os.path.join(runs_dir, "*", "metrics.json"))):
        with open(path) as f:
            metrics = json.load(f)
        with open(os.path.join(os.path.dirname(path), "config.json")) as f:
            settings = json.load(f)["settings"]
        test = metrics["test"]
        points.append({"run": os.path.basename(os.path.dirname(path)), "family": settings["model"],
                       "mi": settings["mi"], "e1": settings["e1"], "e2": settings["e2"],
                       "consistency": test["consistency"], "rate": test["rate"], "mmd": test["mmd"],
                       "mutual_information": metrics["test_mutual_information"],
                       "lambda_consistency": test["lambda_consistency"], "lambda_mmd": test["lambda_mmd"],
                       "epochs": metrics["epochs"], "train_seconds": metrics["train_seconds"],
                       "mi_examples": metrics["mi_examples"]})
    return points


STYLES = {("infovae", 1): ("o", "tab:blue", "InfoVAE, mi = +1"),
          ("infovae", -1): ("o", "tab:orange", "InfoVAE, mi = -1"),
          ("infovae", 0): ("o", "tab:gray", "InfoVAE, mi = 0 (ELBO)"),
          ("lagvae", 1): ("*", "navy", "LagVAE, mi = +1"),
          ("lagvae", -1): ("*", "darkred", "LagVAE, mi = -1")}


def plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = load_points(args.runs)
    if not points:
        print(f"No finished runs under {args.runs}.", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    panels = [("mutual_information", "$I_q(x; z)$, aggregate-posterior estimate (nats)"),
              ("rate", "rate $R = E_x KL(q(z|x) || p(z)) \\geq I_q(x; z)$ (nats)")]
    for ax, (key, label) in zip(axes, panels):
        for (family, mi), (marker, color, name) in STYLES.items():
            chosen = [p for p in points if p["family"] == family and int(p["mi"]) == mi]
            if not chosen:
                continue
            ax.scatter([p["consistency"] for p in chosen], [p[key] for p in chosen], marker=marker,
                       s=150 if marker == "*" else 45, color=color, label=name, zorder=3)
            for p in chosen:
                ax.annotate(f"e1={p['e1']:g}", (p["consistency"], p[key]), fontsize=7,
                            xytext=(4, 3), textcoords="offset points")
        ax.set_xlabel("consistency: test negative ELBO (nats)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    n = points[0]["mi_examples"]
    axes[0].axhline(math.log(n), color="k", lw=0.7, ls=":", label=f"log {n}: the estimate's ceiling")
    axes[0].legend(fontsize=7, loc="lower right")
    epochs = "/".join(str(e) for e in sorted({p["epochs"] for p in points}))
    fig.suptitle(f"InfoVAE (fixed weights) vs LagVAE (learned multipliers), binarized MNIST test set, "
                 f"{epochs} epochs per run", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    fig.savefig(args.out, dpi=120)
    table = args.out.rsplit(".", 1)[0] + ".json"
    with open(table, "w") as f:
        json.dump(points, f, indent=1)
        f.write("\n")
    print(f"{len(points)} runs -> {args.out}, {table}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train")
    t.add_argument("family", choices=sorted(GRIDS))
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--dual-learning-rate", type=float, default=1e-2)
    t.add_argument("--hidden", default="1024,1024", help="encoder/decoder hidden sizes (authors: 1024,1024)")
    t.add_argument("--runs", default="runs/frontier")
    m = commands.add_parser("measure", help="re-measure runs made before the test set was shuffled")
    m.add_argument("--runs", default="runs/frontier")
    p = commands.add_parser("plot")
    p.add_argument("--runs", default="runs/frontier")
    p.add_argument("--out", default="docs/figures/infovae_frontier.png")
    args = parser.parse_args(argv)
    return {"train": train, "measure": measure, "plot": plot}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
