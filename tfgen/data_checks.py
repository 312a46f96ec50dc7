"""Checks that data can be scored before, and while, a model trains on it.

Two levels, one set of messages:

* **Before work starts** (:func:`check_numeric`, :meth:`LatentVariableModel.check_data`):
  NumPy arrays are checked whole, a ``tf.data.Dataset`` or ``keras.utils.PyDataset`` by its
  structure and first batch, so a wrong shape, dtype or a TFDS ``{"image", "label"}`` dict
  is refused with one ``ValueError`` before anything is traced.
* **Every batch, inside the traced step** (:func:`assertions`): each model states the
  conditions a batch must meet (``LatentVariableModel.batch_conditions``: finite values;
  binary pixels for a Bernoulli likelihood; integers 0..255 for raw-pixel models), which
  become ``tf.debugging.Assert`` ops of one reduction each. They run before the batch's
  update (automatic control dependencies order them before the optimizer's assignments),
  so a NaN row or a grey value in the 900th batch stops training with the weights of the
  899th. :func:`data_errors` turns the ``InvalidArgumentError`` they raise into a
  ``ValueError`` carrying the model's message.

Under ``jit_compile=True`` (XLA; Keras' default on a GPU) TensorFlow drops ``Assert`` ops, so
``fit`` / ``evaluate`` / ``predict`` check a ``tf.data.Dataset``'s batches in the input pipeline
instead (:meth:`LatentVariableModel.checked_under_xla`), with the same messages and the same
stop before the bad batch's update; a Python generator or ``PyDataset`` is checked by its first
batch only there, and the run driver's NaN stop (:mod:`tfgen.runs`) remains.
"""
import contextlib
import os

import numpy as np
import tensorflow as tf

MARKER = "tfgen data check: "
NOT_FINITE = "a batch holds NaN or infinite values; clean or impute them before training"
NOT_BINARY = ("a batch holds values other than 0 and 1, which a Bernoulli likelihood cannot score; "
              "binarize the data first, e.g. tfgen.data.load(..., binarize=True)")
# Activations kept per (sample, example) and unit for the backward pass, besides the forward's.
MEMORY_FACTOR = 3
BYTES_PER_VALUE = 4


def check_numeric(x):
    """``x`` if it is a numeric (or bool) array with finite values; ``ValueError`` otherwise."""
    if x.dtype == object and x.ndim == 0 and isinstance(x.item(), dict):
        raise ValueError(tfds_hint(sorted(x.item())))
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise ValueError(f"Data must be numeric, got dtype {x.dtype}.")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError(
            f"Data contains {int(np.sum(~np.isfinite(x)))} NaN or infinite values; "
            "clean or impute them before training."
        )
    return x


def tfds_hint(keys):
    """The message for a dict batch a model does not take (TFDS' ``{"image", "label"}``)."""
    image = next((key for key in keys if key in ("image", "images", "x", "inputs")), None)
    fix = (f"map it to the images first, e.g. dataset.map(lambda e: tf.cast(e[{image!r}], 'float32') / 255) "
           "(binarized for a Bernoulli likelihood)") if image else "map it to the model's input first"
    return f"The data are dicts with keys {list(keys)} (a TFDS dataset?), not the model's input; {fix}."


def all_finite(x):
    """A scalar bool tensor: every value of the float tensor ``x`` is finite (one reduction)."""
    return tf.reduce_all(tf.math.is_finite(x))


def all_binary(x):
    """A scalar bool tensor: every value of ``x`` is 0 or 1 (``x (1 - x) = 0``; NaN fails)."""
    x = tf.cast(x, "float32")
    return tf.reduce_all(tf.equal(x * (1.0 - x), 0.0))


def assertions(conditions):
    """``tf.debugging.Assert`` ops of ``[(ok, message)]``: each raises ``InvalidArgumentError``
    carrying ``message`` when its scalar ``ok`` is false."""
    return [tf.debugging.Assert(ok, [MARKER + message]) for ok, message in conditions]


@contextlib.contextmanager
def data_errors(where=None):
    """Turn a failed :func:`assertions` op into ``ValueError(message)``; ``where()`` may add
    where it happened (e.g. the run driver's epoch and batch)."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        text = str(error.message)
        if MARKER not in text:
            raise
        message = text[text.index(MARKER) + len(MARKER):].split("]")[0].strip()
        at = where() if where else None
        raise ValueError(f"{message[0].upper()}{message[1:]}" + (f" ({at})." if at else ".")) from None


def check_memory(model, batch):
    """Refuse a step whose activations cannot fit in this machine's memory.

    A lower bound of one step's memory: ``k * batch * units * 4 bytes * 3`` (the forward
    activations and what the backward pass keeps), ``units`` summed over the output widths of
    the model's weight matrices. Catches e.g. ``k = 10^9`` before minutes of allocation.

    Raises:
        ValueError: the bound exceeds the machine's physical memory.
    """
    units = sum(int(w.shape[-1]) for w in model.weights if len(w.shape) >= 2)
    need = MEMORY_FACTOR * BYTES_PER_VALUE * int(model.k) * int(batch) * units
    have = physical_memory()
    if have and need > have:
        raise ValueError(
            f"k = {model.k} samples x batch {batch} needs at least {need / 2**30:.0f} GiB per training step "
            f"for its activations, more than this machine's {have / 2**30:.0f} GiB; "
            "lower k or the batch size.")


def physical_memory():
    """Bytes of physical memory, or ``None`` where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
