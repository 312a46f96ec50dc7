"""Sequence data for sequential latent-variable models: padded batches with masks.

Every loader here yields ``tf.data.Dataset`` elements ``{"frames": [batch, T, D] float32,
"mask": [batch, T] float32}``, where ``T`` is the longest sequence of the batch, padded
steps are zero and ``mask`` is 1 on real steps, 0 on padding (``lengths = sum(mask, -1)``).

Two sources:

* **JSB Chorales** (Boulanger-Lewandowski et al. 2012): ``$TFGEN_DATA_DIR/jsb_chorales.pickle``,
  a pickled dict ``train`` / ``valid`` / ``test`` -> list of chorales, a chorale a list of
  steps, a step a tuple of MIDI note numbers. MIDI notes 21..108 become the 88 keys of a
  binary piano roll (:data:`PIANO_LOW`). The pickle is read with :class:`RestrictedUnpickler`,
  which builds only lists, tuples, dicts, ints, strings and NumPy *integer* scalars and
  refuses every other global, so a crafted file cannot run code. TensorFlow Datasets has
  no JSB Chorales dataset, so there is no TFDS route.
* **Your own sequences**: an ``.npz`` file read by :func:`load_npz` holding
  ``frames`` (``[n, T, D]`` float, real-valued or binary frames, padded to a common ``T``)
  and ``lengths`` (``[n]`` int, the true length of each sequence), e.g. speech frames::

      np.savez("speech.npz", frames=frames, lengths=lengths)
      train = tfgen.sequences.load_npz("speech.npz", batch_size=32)

Training batches that resume exactly come from :func:`epoch_batches`: every epoch's order
(and length bucketing) is a function of ``(seed, epoch)``, as :func:`tfgen.data.epoch_batches`
for images.
"""
from __future__ import annotations

import functools
import io
import math
import os
import pickle
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfgen.data import prefetched, regular_file
from tfgen.data import read_npz as _read_arrays

PIANO_LOW, PIANO_HIGH = 21, 108  # MIDI range of the 88 piano keys
PIANO_KEYS = PIANO_HIGH - PIANO_LOW + 1
JSB_FILE = "jsb_chorales.pickle"
SPLITS = ("train", "valid", "test")


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global (class or function) that the restricted unpickler refuses."""


def _integer_dtype(name, align=False, copy=False):
    dtype = np.dtype(str(name))
    if dtype.kind not in "iu":
        raise UnsafePickleError(f"only integer NumPy dtypes are allowed, got {dtype}")
    return dtype


def _integer_scalar(dtype, data=None):
    if isinstance(data, str):  # a Python 2 byte string, decoded as latin-1 by the unpickler
        data = data.encode("latin1")
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iu" or not isinstance(data, bytes):
        raise UnsafePickleError("only NumPy integer scalars built from raw bytes are allowed")
    return int(np.frombuffer(data, dtype=dtype, count=1)[0])


def _latin1_bytes(text, encoding):
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError("_codecs.encode is allowed only to turn latin-1 text into bytes")
    return text.encode("latin1")


# The only globals a piano-roll pickle names (NumPy integer scalars, and the latin-1 bytes
# they are built from in a protocol-2 pickle written by Python 3), mapped to checked builders
# that never call into NumPy's own reconstructors.
_ALLOWED = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): _integer_dtype,
    ("numpy.core.multiarray", "scalar"): _integer_scalar,
    ("numpy._core.multiarray", "scalar"): _integer_scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Builds plain containers, numbers and strings; refuses every global but integer scalars.

    ``find_class`` is the only way a pickle reaches code (``GLOBAL`` / ``STACK_GLOBAL``, then
    ``REDUCE`` / ``BUILD`` / ``NEWOBJ``); it returns checked builders for NumPy integer
    scalars (which become Python ``int``) and raises :class:`UnsafePickleError` for anything
    else, so e.g. ``os.system`` is never looked up, let alone called.
    """

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise UnsafePickleError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid):
        raise UnsafePickleError("persistent ids are not allowed")


def safe_load_pickle(path: str) -> Any:
    """Load a pickle of plain data from ``path`` with :class:`RestrictedUnpickler`.

    Raises ``ValueError`` naming the file if the pickle asks for anything else.
    """
    with open(regular_file(path), "rb") as f:
        raw = f.read()
    try:
        return RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except UnsafePickleError as error:
        raise ValueError(
            f"Refusing to load {path}: the pickle tries to construct something other than plain "
            f"lists, tuples, dicts and integers ({error}). It may try to run code; do not load "
            "it with pickle.load."
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as error:
        raise ValueError(f"{path} is not a readable pickle (truncated or corrupt: "
                         f"{type(error).__name__}: {error}).") from None


def data_dir() -> str:
    """``$TFGEN_DATA_DIR``; ``FileNotFoundError`` if it is not set."""
    path = os.environ.get("TFGEN_DATA_DIR")
    if not path:
        raise FileNotFoundError(
            "TFGEN_DATA_DIR is not set: point it at the folder holding jsb_chorales.pickle."
        )
    return path


def piano_roll(chorale: Sequence[Iterable[int]]) -> np.ndarray:
    """One chorale (list of steps, each an iterable of MIDI notes) -> ``[T, 88]`` float32 in {0, 1}."""
    roll = np.zeros((len(chorale), PIANO_KEYS), dtype="float32")
    for t, step in enumerate(chorale):
        for note in step:
            note = int(note)
            if not PIANO_LOW <= note <= PIANO_HIGH:
                raise ValueError(f"MIDI note {note} at step {t} is outside the piano range 21..108.")
            roll[t, note - PIANO_LOW] = 1.0
    return roll


def load_jsb_rolls(split: str, path: str | None = None) -> list[np.ndarray]:
    """The chorales of ``split`` as a list of ``[T_i, 88]`` piano rolls."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")
    path = path or os.path.join(data_dir(), JSB_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist (JSB Chorales pickle, see tfgen.sequences).")
    raw = _read_jsb(os.path.abspath(path), os.path.getmtime(path))
    if not isinstance(raw, dict) or split not in raw:
        raise ValueError(f"{path} should hold a dict with keys {list(SPLITS)}.")
    try:
        return [piano_roll(chorale) for chorale in raw[split]]
    except TypeError as error:
        raise ValueError(f"{path}: split {split!r} is not a list of chorales, each a list of steps of MIDI "
                         f"notes ({error}).") from None


@functools.lru_cache(maxsize=2)
def _read_jsb(path, mtime):
    return safe_load_pickle(path)


def pad(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """List of ``[T_i, D]`` arrays -> ``(frames [n, T, D], lengths [n])``, zero padded."""
    if not sequences:
        raise ValueError("No sequences to pad.")
    lengths = np.array([len(s) for s in sequences], dtype="int32")
    frames = np.zeros((len(sequences), lengths.max(), sequences[0].shape[-1]), dtype="float32")
    for i, s in enumerate(sequences):
        frames[i, : len(s)] = s
    return frames, lengths


def mask_from_lengths(lengths: np.ndarray, steps: int) -> np.ndarray:
    """``[n, steps]`` float32 mask: 1 for the first ``lengths[i]`` steps of sequence ``i``, 0 after."""
    return (np.arange(steps)[None, :] < np.asarray(lengths)[:, None]).astype("float32")


def dataset(frames: np.ndarray, lengths: np.ndarray, batch_size: int = 32, shuffle: bool = False,
            seed: int | None = None, buckets: Sequence[int] | None = None,
            trim: bool = True) -> tf.data.Dataset:
    """``tf.data.Dataset`` of ``{"frames", "mask"}`` batches, each cut to its longest sequence.

    ``buckets`` (e.g. ``(48, 64, 96)``): batch sequences of similar length together (length
    boundaries), so a recurrent model runs fewer padded steps; the last batch of each bucket
    may be smaller. Padding never changes a bound, since padded steps are masked.
    ``trim=False`` instead keeps every batch at the ``T`` steps of ``frames`` and merges the buckets'
    partly filled batches, so every batch but the last holds ``batch_size`` sequences: two
    shapes, which XLA compiles once each (the VRNN's loop still stops at a batch's longest
    sequence).
    """
    frames = np.asarray(frames, dtype="float32")
    lengths = np.asarray(lengths, dtype="int32")
    check_sequences(frames, lengths)
    ds = tf.data.Dataset.from_tensor_slices(
        {"frames": zero_padding(frames, lengths), "mask": mask_from_lengths(lengths, frames.shape[1])}
    )
    if shuffle:
        ds = ds.shuffle(len(frames), seed=seed, reshuffle_each_iteration=True)
    if buckets:
        ds = ds.bucket_by_sequence_length(
            lambda e: tf.cast(tf.reduce_sum(e["mask"]), "int32"), list(buckets),
            [batch_size] * (len(buckets) + 1))
        if not trim:  # the partly filled buckets come last: merged into full batches
            ds = ds.rebatch(batch_size)
        # Keras warns that a dataset of unknown length "ran out of data"; this one's is known.
        steps = steps_per_epoch(lengths, batch_size, buckets, trim)
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    else:
        ds = ds.batch(batch_size)
    return prefetched(ds.map(_trim) if trim else ds)


def _trim(batch):
    """A ``{"frames", "mask"}`` batch cut to its longest sequence."""
    steps = tf.cast(tf.reduce_max(tf.reduce_sum(batch["mask"], axis=1)), "int32")
    return {"frames": batch["frames"][:, :steps], "mask": batch["mask"][:, :steps]}


def epoch_batches(frames: np.ndarray, lengths: np.ndarray, batch_size: int, seed: int, first_epoch: int,
                  epochs: int, buckets: Sequence[int] | None = None,
                  trim: bool = True) -> tuple[tf.data.Dataset, int]:
    """Shuffled training batches of epochs ``first_epoch .. epochs - 1``, back to back.

    Epoch ``e`` visits the sequences in the order ``argsort(U)``, ``U`` stateless-uniform
    seeded by ``(seed, e)``. With ``buckets`` (length boundaries, as :func:`dataset`: bucket
    ``i`` holds lengths ``buckets[i-1] <= length < buckets[i]``) each sequence joins the
    bucket of its length, a bucket holding ``batch_size`` sequences is emitted as a batch, and
    the partly filled buckets follow at the end of the epoch, shortest first. Each batch is
    trimmed to its longest sequence (fewer padded steps for a recurrent model; padding never
    changes a bound). With ``trim=False`` every batch keeps all ``T`` steps and the partly
    filled buckets' sequences, in the same order, are cut into batches of ``batch_size`` (the
    last may hold fewer): at most two shapes, each compiled once under XLA (a VRNN's loop still
    stops at the batch's longest sequence). So the batches are a function of ``(seed, epoch)``
    alone: a run resumed at ``first_epoch`` sees exactly the batches an uninterrupted run would.

    Args:
        frames: ``[n, T, D]`` padded sequences; ``lengths``: ``[n]`` their lengths.
        batch_size: sequences per batch (the last batch of a bucket may hold fewer).
        seed: an int; ``first_epoch``, ``epochs``: the epochs to cover.
        buckets: length boundaries, or ``None`` for plain shuffled batches.
        trim: cut each batch to its longest sequence; ``False`` keeps the ``T`` steps and
            merges the partly filled buckets.

    Returns:
        ``(dataset, steps_per_epoch)``: ``{"frames", "mask"}`` batches, and the number of
        batches of every epoch (:func:`steps_per_epoch`, the same whatever the order); pass it
        to ``fit`` as ``steps_per_epoch``.

    Raises:
        ValueError: bad sequences (:func:`check_sequences`), ``batch_size < 1`` or no epochs.
    """
    frames = np.asarray(frames, dtype="float32")
    lengths = np.asarray(lengths, dtype="int32")
    check_sequences(frames, lengths)
    if batch_size < 1 or not first_epoch < epochs:
        raise ValueError(f"Need batch_size >= 1 and first_epoch < epochs, got {batch_size}, {first_epoch}, "
                         f"{epochs}.")
    bucket_of, sizes = _buckets(lengths, buckets)

    def one_epoch(epoch):
        u = tf.random.stateless_uniform([len(lengths)], seed=tf.constant([seed, epoch], "int64")).numpy()
        filling, batches = [[] for _ in sizes], []
        for i in np.argsort(u, kind="stable"):
            bucket = filling[bucket_of[i]]
            bucket.append(int(i))
            if len(bucket) == batch_size:
                batches.append(list(bucket))
                bucket.clear()
        if trim:
            return batches + [bucket for bucket in filling if bucket]
        rest = [i for bucket in filling for i in bucket]
        return batches + [rest[i:i + batch_size] for i in range(0, len(rest), batch_size)]

    frames = zero_padding(frames, lengths)
    index = [batch for epoch in range(first_epoch, epochs) for batch in one_epoch(epoch)]
    table = {"frames": tf.constant(frames), "mask": tf.constant(mask_from_lengths(lengths, frames.shape[1]))}

    def gather(idx):
        batch = {key: tf.gather(value, idx) for key, value in table.items()}
        return _trim(batch) if trim else batch

    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(index, dtype="int32"))
    return prefetched(ds.map(gather)), steps_per_epoch(lengths, batch_size, buckets, trim)


def steps_per_epoch(lengths: np.ndarray, batch_size: int, buckets: Sequence[int] | None = None,
                    trim: bool = True) -> int:
    """Batches per epoch of :func:`epoch_batches` and :func:`dataset`: ``sum_b ceil(n_b / batch_size)``
    over the buckets' sizes ``n_b``; with ``trim=False`` (partly filled buckets merged)
    ``sum_b floor(n_b / batch_size) + ceil(sum_b (n_b mod batch_size) / batch_size)``."""
    sizes = _buckets(lengths, buckets)[1]
    if trim:
        return sum(math.ceil(size / batch_size) for size in sizes)
    merged = sum(size % batch_size for size in sizes)
    return sum(size // batch_size for size in sizes) + math.ceil(merged / batch_size)


def _buckets(lengths, buckets):
    """``(bucket of each sequence [n], sequences per bucket)`` for length boundaries ``buckets``."""
    boundaries = np.asarray(buckets or (), dtype="int32")
    bucket_of = np.searchsorted(boundaries, np.asarray(lengths), side="right")
    return bucket_of, np.bincount(bucket_of, minlength=len(boundaries) + 1)


def check_sequences(frames: np.ndarray, lengths: np.ndarray) -> None:
    """``ValueError`` unless ``frames [n, T, D]`` and ``lengths [n]`` (in ``1..T``) fit and the real
    steps are finite; padding may hold anything (:func:`zero_padding` clears it)."""
    if frames.ndim != 3:
        raise ValueError(f"frames must have shape [n, T, D], got {frames.shape}.")
    if lengths.shape != (frames.shape[0],):
        raise ValueError(f"lengths must have shape [{frames.shape[0]}], got {lengths.shape}.")
    if np.any(lengths < 1) or np.any(lengths > frames.shape[1]):
        raise ValueError(f"lengths must lie in 1..{frames.shape[1]} (the padded length T).")
    if not np.all(np.isfinite(zero_padding(frames, lengths))):
        raise ValueError("frames contain NaN or infinite values in their real (unpadded) steps.")


def zero_padding(frames, lengths):
    """``frames`` with every step past its sequence's length set to 0 (users pad with 1e3 or -999)."""
    real = mask_from_lengths(lengths, frames.shape[1])[..., None] > 0
    return np.where(real, frames, 0.0).astype("float32")


def load_jsb(split: str, batch_size: int = 32, shuffle: bool | None = None, seed: int | None = None,
             path: str | None = None, buckets: Sequence[int] | None = None) -> tf.data.Dataset:
    """JSB Chorales ``split`` as padded piano-roll batches (see module docstring and :func:`dataset`)."""
    frames, lengths = pad(load_jsb_rolls(split, path))
    shuffle = split == "train" if shuffle is None else shuffle
    return dataset(frames, lengths, batch_size, shuffle, seed, buckets)


def load_npz(path: str, batch_size: int = 32, shuffle: bool = False, seed: int | None = None,
             buckets: Sequence[int] | None = None) -> tf.data.Dataset:
    """Sequences from an ``.npz`` with ``frames`` ``[n, T, D]`` and ``lengths`` ``[n]``."""
    frames, lengths = read_npz(path)
    return dataset(frames, lengths, batch_size, shuffle, seed, buckets)


def read_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(frames [n, T, D], lengths [n])`` of an ``.npz`` (see the module docstring).

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` if it lacks an array.
    """
    arrays = _read_arrays(path, ["frames", "lengths"])
    frames, lengths = arrays["frames"], arrays["lengths"]
    if not (np.issubdtype(frames.dtype, np.number) and np.issubdtype(lengths.dtype, np.integer)):
        raise ValueError(f"{path}: frames must be numbers and lengths integers, got {frames.dtype} and "
                         f"{lengths.dtype}.")
    check_sequences(frames, lengths)
    return frames, lengths


def frame_mean(data: tf.data.Dataset) -> np.ndarray:
    """Mask-weighted mean frame ``[D]`` over a dataset of ``{"frames", "mask"}`` batches."""
    total, count = 0.0, 0.0
    for batch in data:
        m = batch["mask"].numpy()[..., None].astype("float64")
        total = total + np.sum(batch["frames"].numpy() * m, axis=(0, 1))
        count += float(m.sum())
    return total / count
