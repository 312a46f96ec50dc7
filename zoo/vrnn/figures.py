"""Piano rolls of sequences: what ``tfgen sample`` draws from a VRNN trained on JSB Chorales."""
import os

import numpy as np


def plot_piano_roll(roll, path, title="VRNN sample"):
    """Save a ``[T, 88]`` piano roll as a PNG at ``path``: time across, MIDI pitch up, cropped
    to the keys played (3 keys of margin). Frames of another width are drawn by column index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfgen import sequences

    roll = np.asarray(roll)
    keys = roll.shape[1]
    piano = keys == sequences.PIANO_KEYS
    notes = np.nonzero(roll.sum(axis=0))[0]
    low = max(0, notes.min() - 3) if len(notes) else 0
    high = min(keys, notes.max() + 4) if len(notes) else keys
    offset = (sequences.PIANO_LOW if piano else 0) - 0.5
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.imshow(roll[:, low:high].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=(-0.5, len(roll) - 0.5, low + offset, high + offset))
    ax.set_xlabel("time step")
    ax.set_ylabel("MIDI pitch" if piano else "frame dimension")
    ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
