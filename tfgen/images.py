"""Image grids: many images tiled into one picture (samples, reconstructions)."""
from __future__ import annotations

import math

import numpy as np


def grid(images: np.ndarray, image_shape: tuple[int, int, int], columns: int | None = None, gap: int = 1,
         background: float = 0.5) -> np.ndarray:
    """``images`` (``[n, h*w*c]`` or ``[n, h, w, c]``, values in [0, 1]) tiled row by row.

    Returns ``[rows * (h + gap) - gap, columns * (w + gap) - gap]`` for one channel, with a
    trailing channel axis for colour; images are separated by ``gap`` pixels of ``background``.
    """
    height, width, channels = image_shape
    images = np.clip(np.asarray(images, dtype="float32").reshape(-1, height, width, channels), 0.0, 1.0)
    if len(images) < 1:
        raise ValueError("A grid needs at least one image.")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    out = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), background,
                  dtype="float32")
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * (height + gap), c * (width + gap)
        out[top:top + height, left:left + width] = image
    return out[..., 0] if channels == 1 else out


def pairs(originals: np.ndarray, reconstructions: np.ndarray, image_shape: tuple[int, int, int],
          columns: int = 8) -> np.ndarray:
    """A grid of rows of ``columns`` originals, each row followed by their reconstructions.

    Args:
        originals: ``[n, ...]`` images in [0, 1], as :func:`grid` takes them.
        reconstructions: their reconstructions, as ``originals``.
        image_shape: ``(h, w, c)``.
        columns: images per row.

    Returns:
        The picture of :func:`grid`, ``2 * ceil(n / columns)`` rows of images.
    """
    height, width, channels = image_shape
    originals = np.asarray(originals, dtype="float32").reshape(-1, height, width, channels)
    reconstructions = np.asarray(reconstructions, dtype="float32").reshape(originals.shape)
    rows = []
    for start in range(0, len(originals), columns):
        chunk = slice(start, start + columns)
        blank = np.full((columns - len(originals[chunk]), height, width, channels), 0.5, "float32")
        rows += [originals[chunk], blank, reconstructions[chunk], blank]
    return grid(np.concatenate(rows), image_shape, columns)


def enlarge(picture: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel of ``picture`` as a ``scale x scale`` block (nearest neighbour)."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}.")
    return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)
