"""``tfgen vrnn-train`` / ``tfgen vrnn-evaluate`` / ``tfgen vrnn-sample``: the VRNN experiments.

One command per row of docs/vrnn.md, e.g.::

    tfgen vrnn-train --objective fivo --k 4 --epochs 60 --out runs/vrnn_fivo_k4
    tfgen vrnn-evaluate runs/vrnn_fivo_k4 --iwae-k 1000
    tfgen vrnn-sample runs/vrnn_fivo_k4 --steps 64 --png docs/figures/vrnn_sample.png

``--dataset`` is ``jsb`` (``$TFGEN_DATA_DIR/jsb_chorales.pickle``) or the path of an
``.npz`` with ``frames`` / ``lengths`` (see :mod:`tfgen.sequences`; use
``--likelihood gaussian`` for real-valued frames; an .npz run is evaluated on its own file).
"""
import os
import time

import keras
import numpy as np

from tfgen import runs, sequences
from tfgen.callbacks import TimeBudget
from zoo import vrnn


def register(commands):
    train = commands.add_parser("vrnn-train", help="train a VRNN on sequences and report test bounds")
    train.add_argument("--objective", default="elbo", help=f"one of {list(vrnn.OBJECTIVES)} (default elbo)")
    train.add_argument("--k", type=int, default=1, help="samples / particles per sequence (default 1)")
    train.add_argument("--dataset", default="jsb", help="jsb or the path of an .npz (frames, lengths)")
    train.add_argument("--likelihood", default="bernoulli", help="bernoulli (piano rolls) or gaussian")
    train.add_argument("--rnn-units", type=int, default=64)
    train.add_argument("--latent", type=int, default=32)
    train.add_argument("--features", type=int, default=64)
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--iwae-k", type=int, default=1000,
                       help="importance samples for the test log-likelihood estimate (default 1000)")
    train.add_argument("--out", default="runs/vrnn", help="run directory (default runs/vrnn)")
    train.add_argument("--overwrite", action="store_true")
    train.add_argument("--max-minutes", type=float, default=None,
                       help="stop training after this wall time (the epochs done are recorded)")
    train.add_argument("--verbose", type=int, default=2)

    evaluate = commands.add_parser("vrnn-evaluate", help="re-estimate a saved VRNN run's test bounds")
    evaluate.add_argument("run")
    evaluate.add_argument("--iwae-k", type=int, default=1000, help="0 skips the IWAE estimate")
    evaluate.add_argument("--fivo-k", type=int, default=None, help="particles (default: the run's k)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--seed", type=int, default=0)

    sample = commands.add_parser("vrnn-sample", help="sample new sequences (piano rolls) from a VRNN run")
    sample.add_argument("run")
    sample.add_argument("--num", type=int, default=1)
    sample.add_argument("--steps", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--npz", default=None, help="write the samples here (array 'frames')")
    sample.add_argument("--png", default=None, help="plot the first sample as a piano roll here")


# Length buckets for training batches: fewer padded steps per batch (JSB lengths are 25..160).
BUCKETS = (48, 64, 80, 100)


def load_split(dataset, split, batch_size, seed=0):
    buckets = BUCKETS if split == "train" else None
    if dataset == "jsb":
        return sequences.load_jsb(split, batch_size, seed=seed, buckets=buckets)
    if dataset.endswith(".npz"):
        return sequences.load_npz(dataset, batch_size, shuffle=split == "train", seed=seed, buckets=buckets)
    raise ValueError(f"Unknown dataset {dataset!r}: use 'jsb' or the path of an .npz file.")


class Checkpoint(keras.callbacks.Callback):
    """Save the run (config + weights) after every epoch, so a killed job loses at most one."""

    def __init__(self, out, settings):
        super().__init__()
        self.out, self.settings = out, settings

    def on_epoch_end(self, epoch, logs=None):
        runs.save(self.model, self.out, {**self.settings, "epochs_done": epoch + 1})



def train(args):
    for name in ("epochs", "batch_size", "iwae_k"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    train_data = load_split(args.dataset, "train", args.batch_size, args.seed)
    first = next(iter(train_data))
    config = vrnn.VRNNConfig(
        input_dim=int(first["frames"].shape[-1]), rnn_units=args.rnn_units, latent=args.latent,
        features=args.features, likelihood=args.likelihood, k=args.k, objective=args.objective,
        seed=args.seed)
    runs.prepare_dir(args.out, args.overwrite)
    keras.utils.set_random_seed(args.seed)
    model = vrnn.VRNN(**{key: getattr(config, key) for key in vrnn.VRNNConfig.__dataclass_fields__})
    model.adapt(train_data)
    model.compile(optimizer=vrnn.paper_optimizer(args.learning_rate))
    settings = {key: value for key, value in vars(args).items() if key not in ("command", "overwrite")}

    start = time.time()
    history = model.fit(train_data, epochs=args.epochs, verbose=args.verbose, callbacks=[
        keras.callbacks.CSVLogger(os.path.join(args.out, "history.csv")),
        Checkpoint(args.out, settings),
        *([TimeBudget(args.max_minutes, at="epoch")] if args.max_minutes else []),
    ])
    train_seconds = time.time() - start
    epochs_done = len(history.history["loss"])
    runs.save(model, args.out, {**settings, "epochs_done": epochs_done})
    runs.update_metrics(args.out, dataset=args.dataset, epochs=epochs_done,
                        train_seconds=round(train_seconds, 1),
                        final_train={key: float(v[-1]) for key, v in history.history.items()})
    return evaluate_run(args.out, args.iwae_k, None, "test", args.seed)


def evaluate_run(path, iwae_k, fivo_k, split, seed):
    model, settings = runs.load(path)
    data = load_split(settings["dataset"], split, 100)
    start = time.time()
    result = vrnn.evaluate(model, data, iwae_k=iwae_k, fivo_k=fivo_k, seed=seed)
    fivo_k = fivo_k or model.k
    result[f"seconds_iwae_k{iwae_k}_fivo_k{fivo_k}"] = round(time.time() - start, 1)
    runs.update_metrics(path, **{f"{split}_{key}": value for key, value in result.items()})
    print(f"{split} bounds per time step (nats): " + ", ".join(
        f"{key[:-9]} {value:.3f}" for key, value in result.items() if key.endswith("_per_step")))
    return result


def evaluate(args):
    return evaluate_run(args.run, args.iwae_k, args.fivo_k, args.split, args.seed)


def sample(args):
    model, _ = runs.load(args.run)
    rolls = model.sample(args.num, args.steps, seed=args.seed)
    if args.npz:
        np.savez_compressed(args.npz, frames=rolls)
    if args.png:
        plot_piano_roll(rolls[0], args.png, title=f"VRNN sample ({os.path.basename(args.run.rstrip('/'))})")
    print(f"sampled {rolls.shape} -> {args.npz or ''} {args.png or ''}")
    return rolls


def plot_piano_roll(roll, path, title="VRNN sample"):
    """Save a ``[T, 88]`` piano roll as a PNG (time across, MIDI pitch up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = np.nonzero(np.asarray(roll).sum(axis=0))[0]
    low = max(0, notes.min() - 3) if len(notes) else 0
    high = min(sequences.PIANO_KEYS, notes.max() + 4) if len(notes) else sequences.PIANO_KEYS
    fig, ax = plt.subplots(figsize=(8, 3.2))
    pitch = sequences.PIANO_LOW - 0.5
    ax.imshow(np.asarray(roll)[:, low:high].T, origin="lower", aspect="auto", cmap="Greys",
              interpolation="nearest", extent=(-0.5, len(roll) - 0.5, low + pitch, high + pitch))
    ax.set_xlabel("time step")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


HANDLERS = {"vrnn-train": train, "vrnn-evaluate": evaluate, "vrnn-sample": sample}
