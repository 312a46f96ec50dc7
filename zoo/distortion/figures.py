"""The figures of "Mind Your Bits and Errors: Prioritizing the Bits that Matter in Variational
Autoencoders" (anonymous ICLR 2021 submission) from ``tfgen train distortion`` runs, and the
table of their numbers (``tfgen figures distortion``).

* ``distortion_rate_elbo.png`` (fig. 6): rate, ``E log p(x | z)`` and ELBO against the test
  distortion of primaries trained to several gamma.
* ``distortion_reconstructions.png`` (fig. 4): test images, then mean reconstructions
  ``mu(z)``, ``z ~ q(z | x)``, one row per gamma.
* ``distortion_samples.png`` (fig. 5 and 3): per gamma a row of mean samples ``mu(z)``,
  ``z ~ p(z)``, and a row of full samples ``x ~ p(x | z)`` from the same ``z``.
* ``distortion_two_stage.png`` (fig. 8 and 7): test ELBO against final distortion for
  two-stage and single-stage models; samples of a primary and of its secondary.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfgen import data, runs  # noqa: E402
from zoo.distortion.family import figures_of  # noqa: E402
from zoo.distortion.model import SecondaryVAE, TopDownVAE  # noqa: E402  (registers what runs.load builds)


def _load(path, secondary):
    """A run's model, settings, metrics and test figures; ``ValueError`` if it is not a primary
    (``secondary=False``) or a secondary run."""
    model, settings = runs.load(path)
    if not isinstance(model, TopDownVAE) or isinstance(model, SecondaryVAE) != secondary:
        wanted = "--two-stage takes SecondaryVAE" if secondary else "--primaries take TopDownVAE"
        raise ValueError(f"{path} holds a {type(model).__name__}; {wanted} runs.")
    metrics = runs.read_metrics(path)
    return {"path": path, "model": model, "settings": settings, "metrics": metrics,
            "test": figures_of(metrics), "gamma": model.config.gamma}


def _row(images):
    """``[n, h, w, c]`` on [0, 1] -> one image ``[h, n * w]`` (grey) or ``[h, n * w, 3]``."""
    images = np.clip(np.asarray(images), 0.0, 1.0)
    row = np.concatenate(list(images), axis=1)
    return row[..., 0] if row.shape[-1] == 1 else row


def _grid(rows, labels, file, title):
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.0 * rows[0].shape[1] / rows[0].shape[0] + 1.5,
                                                    1.1 * len(rows)))
    for ax, row, label in zip(np.atleast_1d(axes), rows, labels):
        ax.imshow(row, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


def rate_elbo_figure(primaries, file):
    test = [p["test"] for p in primaries]
    distortion = [t["distortion"] for t in test]
    panels = [("rate (nats)", [t["rate"] for t in test]),
              ("E log p(x|z) (nats)", [t["reconstruction"] for t in test]),
              ("ELBO (nats)", [t["elbo"] for t in test])]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (label, values) in zip(axes, panels):
        ax.plot(distortion, values, "o-")
        for p, x, y in zip(primaries, distortion, values):
            ax.annotate(f"gamma={p['gamma']:g}", (x, y), fontsize=7, textcoords="offset points",
                        xytext=(3, 3))
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xlabel("test distortion D")
        ax.set_ylabel(label)
    fig.suptitle("D: sum over pixels of squared errors on the [0, 1] scale, per image", fontsize=9)
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


def make_all(primary_paths, two_stage_paths, out, examples=8, seed=0):
    """Write the four PNGs into ``out``; return the markdown table of every run's numbers."""
    os.makedirs(out, exist_ok=True)
    primaries = sorted((_load(p, secondary=False) for p in primary_paths), key=lambda p: p["gamma"])
    secondaries = [_load(p, secondary=True) for p in two_stage_paths]
    settings = primaries[0]["settings"]
    dataset = settings["dataset"]
    images = next(iter(data.stream(dataset, "test", examples, shuffle=False,
                                   size=settings.get("image_size")))).numpy()

    rate_elbo_figure(primaries, os.path.join(out, "distortion_rate_elbo.png"))
    rows, labels = [_row(images / 255.0)], ["data"]
    for p in primaries:
        rows.append(_row(p["model"].reconstruct(images, seed=seed)))
        labels.append(f"gamma={p['gamma']:g}\nrate={p['test']['rate']:.0f}")
    _grid(rows, labels, os.path.join(out, "distortion_reconstructions.png"),
          f"{dataset} test images and mean reconstructions mu(z), z ~ q(z|x)")
    rows, labels = [], []
    for p in primaries:
        rows += [_row(p["model"].sample(examples, seed=seed)),
                 _row(p["model"].sample(examples, mean=False, seed=seed))]
        labels += [f"gamma={p['gamma']:g}\nmean", "full"]
    _grid(rows, labels, os.path.join(out, "distortion_samples.png"),
          "mean samples mu(z), z ~ p(z), and full samples x ~ p(x|z) from the same z")
    if secondaries:
        two_stage_figure(primaries, secondaries, os.path.join(out, "distortion_two_stage.png"),
                         examples, seed)
    return table(primaries + secondaries)


def two_stage_figure(primaries, secondaries, file, examples, seed):
    fig = plt.figure(figsize=(11, 3.6))
    ax = fig.add_subplot(1, 2, 1)
    single = [p["test"] for p in primaries]
    ax.plot([t["distortion"] for t in single], [t["elbo"] for t in single], "o-", label="single stage")
    for s in secondaries:
        t, p = s["test"], figures_of(s["metrics"]["primary"])
        ax.plot([p["distortion"], t["distortion"]], [p["elbo"], t["elbo"]], "s--", markersize=8,
                label=f"two stage: gamma={s['model'].primary.config.gamma:g} -> {s['gamma']:g}")
    ax.set_xscale("log")
    ax.set_xlabel("final test distortion D")
    ax.set_ylabel("test ELBO (nats)")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 2, 2)
    s = secondaries[0]
    rows = [_row(s["model"].primary.sample(examples, seed=seed)),
            _row(s["model"].sample(examples, seed=seed))]
    gap = np.ones((4,) + rows[0].shape[1:])
    ax.imshow(np.concatenate([rows[0], gap, rows[1]]), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"top: primary (gamma={s['model'].primary.config.gamma:g}) mean samples; "
                 f"bottom: + secondary (gamma={s['gamma']:g})", fontsize=8)
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


def table(loaded):
    """Markdown rows: gamma, test distortion, rate (total, per layer), ELBO, bits/dim, budget."""
    lines = ["| run | stage | gamma | test D | D / gamma | rate (nats) | rate per layer (nats) | "
             "ELBO (nats) | bits/dim | lambda | steps | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in loaded:
        m, t = r["metrics"], r["test"]
        model = r["model"]
        stage = (f"secondary of gamma={model.primary.config.gamma:g}" if hasattr(model, "primary")
                 else "primary")
        layers = ", ".join(f"{n}: {t[f'kl_{n}']:.1f}" for n in model.rate_layers)
        lines.append(
            f"| {r['path']} | {stage} | {r['gamma']:g} | {t['distortion']:.3f} "
            f"| {t['distortion'] / r['gamma']:.3f} "
            f"| {t['rate']:.1f} | {layers} | {t['elbo']:.1f} | {t['bits_per_dim']:.3f} "
            f"| {m['final_train']['lambda_distortion']:.4f} | {m['steps']} | {m['train_seconds']:.0f} |"
        )
        if "primary" in m:
            p = figures_of(m["primary"])
            lines.append(f"| (its primary, same {m['test_images']} test images) | primary "
                         f"| {model.primary.config.gamma:g} | {p['distortion']:.3f} "
                         f"| {p['distortion'] / model.primary.config.gamma:.3f} | {p['rate']:.1f} | | "
                         f"{p['elbo']:.1f} | {p['bits_per_dim']:.3f} | | | |")
    return "\n".join(lines)
