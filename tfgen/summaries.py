"""Pictures in TensorBoard: a callback that draws figures of the model as it trains.

The run driver (:class:`tfgen.runs.Run`) adds it with the pictures a family draws (grids of
samples and of reconstructions, piano rolls), so ``tensorboard --logdir RUN/logs`` shows them
per epoch in its Images tab beside the scalars Keras writes (the training and validation
bounds, the rates and the Lagrange multipliers a model logs).
"""
from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf


class Pictures(keras.callbacks.Callback):
    """After every ``every``-th epoch (and the last), write ``draw(model)`` to TensorBoard.

    Args:
        log_dir: the folder of the event files (the run driver uses ``RUN/logs/pictures``).
        draw: ``model -> {name: picture}``, each picture ``[H, W]`` (grey) or ``[H, W, 3]``
            with values in [0, 1]. Draw with a fixed seed, so successive epochs show the same
            draws changing as the model learns.
        every: epochs between pictures.

    Raises:
        ValueError: ``every < 1``.
    """

    def __init__(self, log_dir: str, draw: Callable[[keras.Model], dict[str, np.ndarray]], every: int = 1):
        super().__init__()
        if every < 1:
            raise ValueError(f"Draw pictures every >= 1 epochs, got {every!r}.")
        self.log_dir, self.draw, self.every, self.writer = log_dir, draw, every, None

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.params.get("epochs"):
            return
        with self.writer.as_default():
            for name, picture in self.draw(self.model).items():
                tf.summary.image(name, image_batch(picture), step=epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()


def image_batch(picture: np.ndarray) -> np.ndarray:
    """``picture`` ``[H, W]`` or ``[H, W, C]`` in [0, 1] as the ``[1, H, W, C]`` float32 batch
    ``tf.summary.image`` takes; ``ValueError`` for another rank."""
    picture = np.clip(np.asarray(picture, dtype="float32"), 0.0, 1.0)
    if picture.ndim == 2:
        picture = picture[..., None]
    if picture.ndim != 3:
        raise ValueError(f"A picture is [height, width] or [height, width, channels], got {picture.shape}.")
    return picture[None]
