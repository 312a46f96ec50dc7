"""DRAW's figure: the canvas sequence, ``sigmoid(c_t)`` step by step (Gregor et al. 2015, fig. 7)."""

import os

import numpy as np


def canvas_sequence(model, out, num=8, seed=0, x=None, scale=3):
    """Write a PNG with one row per image and one column per step ``t`` of ``sigmoid(c_t)``: samples
    from the prior, or reconstructions of images ``x``. Returns the grid ``[H, W]``."""
    from matplotlib import image

    from tfgen import images

    sequence = model.canvases(num=None if x is not None else num, x=x, seed=seed).numpy()  # [T, n, d]
    rows = np.transpose(sequence, (1, 0, 2)).reshape(-1, sequence.shape[-1])
    grid = images.enlarge(images.grid(rows, model.config.image_shape, columns=len(sequence)), scale)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    image.imsave(out, grid, cmap="gray", vmin=0.0, vmax=1.0)
    return grid
