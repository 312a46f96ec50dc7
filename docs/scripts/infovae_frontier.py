"""Mutual information vs consistency for InfoVAE and LagVAE (Zhao, Song & Ermon, "The Information
Autoencoding Family: A Lagrangian Perspective on Latent Variable Generative Models", UAI 2018, fig. 3).

Train the grids (each model's grid sequentially in one process; a finished run is skipped and an
interrupted one resumed from its last checkpoint), then plot from the run folders::

    python docs/scripts/infovae_frontier.py train infovae --epochs 8 --hidden 256,256 --runs runs/frontier
    python docs/scripts/infovae_frontier.py train lagvae --epochs 8 --hidden 256,256 --runs runs/frontier
    python docs/scripts/infovae_frontier.py plot --runs runs/frontier --out docs/figures/infovae_frontier.png

Every run is a ``tfgen train infovae --method infovae|lagvae`` command (printed before it starts)
and leaves a :mod:`tfgen.runs` folder; the plot reads its ``metrics.json``: the held-out
measures of :class:`zoo.infovae.family.InfoVAEFamily` (``test_log_likelihood_k{K}_consistency``,
``_rate``, ``_mmd`` over shuffled batches of 250, ``_mutual_information`` over 10000 test images)
and the final multipliers of training. ``tfgen evaluate RUN --k K`` re-measures a run.
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


def run_name(model, mi, e1, e2):
    return f"{model}_mi{mi:+g}_e1{e1:g}_e2{e2:g}"


def train(args):
    from zoo import cli  # imported here so `plot` needs no TensorFlow

    for mi, e1, e2 in GRIDS[args.model]:
        out = os.path.join(args.runs, run_name(args.model, mi, e1, e2))
        if os.path.exists(os.path.join(out, "metrics.json")):  # finished (or stopped: see its status)
            print(f"skip {out}: done", flush=True)
            continue
        argv = ["train", "infovae", "--model", args.model, f"--mi={mi}", f"--e1={e1}", f"--e2={e2}",
                "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
                "--dual-learning-rate", str(args.dual_learning_rate), "--hidden", args.hidden,
                "--eval-k", str(args.eval_k), "--out", out, "--verbose", "2"]
        if glob.glob(os.path.join(out, "checkpoints", "epoch-*")):
            argv.append("--resume")
        print("tfgen " + " ".join(argv), flush=True)
        if cli.main(argv) != 0:
            return 1
    return 0


def _read(run, name):
    with open(os.path.join(run, name)) as f:
        return json.load(f)


def load_points(runs_dir):
    """One point per finished run under ``runs_dir``: its settings and held-out measures."""
    points = []
    for path in sorted(glob.glob(os.path.join(runs_dir, "*", "metrics.json"))):
        run = os.path.dirname(path)
        metrics, settings = _read(run, "metrics.json"), _read(run, "config.json")["settings"]
        keys = [key for key in metrics
                if key.startswith("test_log_likelihood_k") and key.endswith("_consistency")]
        if not keys:
            continue
        figure = keys[0][:-len("_consistency")]
        model, train_logs = settings["model"], metrics["final_train"]
        points.append({"run": os.path.basename(run), "model": settings["method"], "mi": model["mi"],
                       "e1": model["e1"], "e2": model["e2"], "log_likelihood": metrics[figure],
                       "k": int(figure.rsplit("_k", 1)[1]),
                       **{name: metrics[f"{figure}_{name}"]
                          for name in ("consistency", "rate", "mmd", "mutual_information")},
                       "lambda_consistency": train_logs["lambda_consistency"],
                       "lambda_mmd": train_logs["lambda_mmd"], "epochs": metrics["epochs"],
                       "train_seconds": metrics["train_seconds"]})
    return points


STYLES = {("infovae", 1): ("o", "tab:blue", "InfoVAE, mi = +1"),
          ("infovae", -1): ("o", "tab:orange", "InfoVAE, mi = -1"),
          ("infovae", 0): ("o", "tab:gray", "InfoVAE, mi = 0 (ELBO)"),
          ("lagvae", 1): ("*", "navy", "LagVAE, mi = +1"),
          ("lagvae", -1): ("*", "darkred", "LagVAE, mi = -1")}
MI_EXAMPLES = 10000  # test images of the I_q estimate (zoo.infovae.family.MI_EXAMPLES)


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
        for (model, mi), (marker, color, name) in STYLES.items():
            chosen = [p for p in points if p["model"] == model and int(p["mi"]) == mi]
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
    axes[0].axhline(math.log(MI_EXAMPLES), color="k", lw=0.7, ls=":",
                    label=f"log {MI_EXAMPLES}: the estimate's ceiling")
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
    t.add_argument("model", choices=sorted(GRIDS))
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--dual-learning-rate", type=float, default=1e-2)
    t.add_argument("--hidden", default="1024,1024", help="encoder/decoder hidden sizes (authors: 1024,1024)")
    t.add_argument("--eval-k", type=int, default=1000, help="importance samples of the test log p(x)")
    t.add_argument("--runs", default="runs/frontier")
    p = commands.add_parser("plot")
    p.add_argument("--runs", default="runs/frontier")
    p.add_argument("--out", default="docs/figures/infovae_frontier.png")
    args = parser.parse_args(argv)
    return {"train": train, "plot": plot}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
