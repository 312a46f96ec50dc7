"""Datasets as ``tf.data.Dataset``s: TFDS first, local files in ``$TFGEN_DATA_DIR`` offline.

Where the data comes from, in order:

1. ``$TFGEN_DATA_DIR``, when it holds the dataset's standard files (listed per dataset in
   :data:`DATASETS`; the layout of ``../shared/data/README.md``);
2. TensorFlow Datasets (``tfds.load``), which downloads on first use;
3. otherwise a :class:`DatasetNotFoundError` naming the dataset, the files looked for and
   how to get them. Offline this comes in seconds: a dataset TFDS has not prepared is only
   downloaded after one request (no retries, :data:`PROBE_SECONDS`) reaches its first URL.

Local files are untrusted input: each is checked to be a regular file (not a folder or a
FIFO, which would hang), read whole, and its arrays checked against the dataset (shape per
image, binary pixels for binary datasets) before use; a truncated, empty or wrongly keyed
file gives one ``ValueError`` naming it.

``digits`` (the 8x8 digits scikit-learn ships, thresholded at 8 of 16) needs neither and is
the default for quick runs. Images are ``uint8 [n, h, w, c]``: ``{0, 1}`` for binary
datasets, ``0..255`` for grey and colour ones.

The dataset names of Burda et al.'s published code (github.com/yburda/iwae, ``datasets.py``)
give its data protocol:

* ``BinFixMNIST``: another name for ``binarized_mnist`` (Larochelle & Murray's fixed
  binarization, 50,000 / 10,000 / 10,000; the code trains on the 50,000 and validates on the
  10,000 validation images).
* ``MNIST``: grey-level MNIST binarised afresh every time an image is used, the first 59,600
  training images for training and the last 400 for validation (the code's
  ``binarized_mnist(n_validation=400)``, no shuffling), the 10,000 test images for testing.
* ``OMNI``: Omniglot's ``chardata.mat`` (28x28, from the IWAE repository), its training
  images permuted with ``numpy.random.RandomState(123)`` and the last 1,345 held out for
  validation (the code's ``binarized_shuffled_omniglot``), binarised afresh. Through TFDS the
  images come from TFDS' own Omniglot splits, which are not the paper's.

Grey-level MNIST and Omniglot come from ``$TFGEN_DATA_DIR`` or TFDS like ``mnist`` and
``omniglot``; held-out splits of grey images (validation, test) are binarised once, with a
fixed seed, so repeated evaluations score the same binary images.

Every route goes through one pipeline: a source of single uint8 images (local arrays, or
TFDS examples decoded, cropped and resized one by one), then shuffle, batch, prefetch.

* :func:`stream` gives batches of uint8 pixels; it never holds a TFDS dataset in memory,
  so it is the route for datasets too large for arrays (``celeb_a``: 202,599 faces of
  218x178x3; :attr:`DatasetInfo.streamed`).
* :func:`load` turns the same batches into float32; grey images are binarised dynamically
  (Burda et al. 2016: a fresh Bernoulli(pixel / 255) sample each epoch) unless
  ``binarize=False``, which yields ``pixel / 255``.
* :func:`load_images` returns a whole split as arrays, for datasets that fit in memory;
  :func:`load_labels` the class labels of the labelled ones (``mnist``, ``fashion_mnist``) in
  the same order (semi-supervised models, :mod:`zoo.ssvae`).

CelebA preprocessing: the 148x148 crop at rows 40..187, columns 15..162 of TFDS' aligned
218x178 image (the crop NVAE (Vahdat & Kautz 2020, ``datasets.py: CropCelebA64``) uses
for CelebA 64, after Larsen et al. 2016: centred horizontally, 40 rows cut at the top and
30 at the bottom, so the face fills the square), then an antialiased bilinear resize to
64x64 (NVAE's CelebA 64, and the resolution of the CelebA model of "Mind Your Bits and Errors:
Prioritizing the Bits that Matter in Variational Autoencoders", anonymous ICLR 2021 submission,
app. A.1; that paper does not state its crop) or, with ``size=32``, to 32x32 for CPU runs.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import math
import os
import stat
import zipfile

import numpy as np
import tensorflow as tf

DATA_DIR_ENV = "TFGEN_DATA_DIR"
SHUFFLE_BUFFER = 10_000  # images a TFDS stream shuffles among (arrays shuffle fully)
PROBE_SECONDS = 5  # how long the one request that decides "offline" may take
IDX_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions


class DatasetNotFoundError(FileNotFoundError):
    """Neither the local files nor TFDS could provide a dataset."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple
    binary: bool
    splits: tuple
    files: tuple  # the files looked for in $TFGEN_DATA_DIR
    tfds_name: str = None
    source: str = ""  # where a user gets the files
    crop: tuple = None  # (top, left, height, width) of the TFDS image kept before resizing to shape
    streamed: bool = False  # too large for arrays: only stream / load, never load_images
    classes: int = 0  # label classes (0: the dataset has no labels)
    # A protocol over another dataset's images: its training images, optionally permuted
    # (numpy.random.RandomState(shuffle_seed)), split into train and the last `validation` ones.
    parent: str = None
    validation: int = 0
    shuffle_seed: int = None


def _idx_files(folder):
    return (f"{folder}/train-images-idx3-ubyte.gz", f"{folder}/t10k-images-idx3-ubyte.gz")


DATASETS = {
    info.name: info
    for info in [
        DatasetInfo("digits", (8, 8, 1), True, ("train", "validation", "test"), (),
                    source="bundled with scikit-learn"),
        DatasetInfo("binarized_mnist", (28, 28, 1), True, ("train", "validation", "test"),
                    ("binarized_mnist.npz",), "binarized_mnist",
                    "Larochelle & Murray (2011) fixed binarization; TFDS 'binarized_mnist', saved "
                    "with numpy.savez as train/valid/test uint8 arrays [n, 784]"),
        DatasetInfo("mnist", (28, 28, 1), False, ("train", "test"), _idx_files("mnist"), "mnist",
                    "the four MNIST IDX files (LeCun et al.), as TFDS 'mnist' downloads them", classes=10),
        DatasetInfo("fashion_mnist", (28, 28, 1), False, ("train", "test"), _idx_files("fashion_mnist"),
                    "fashion_mnist", "the four Fashion-MNIST IDX files (Xiao et al. 2017)", classes=10),
        DatasetInfo("svhn", (32, 32, 3), False, ("train", "test"), (), "svhn_cropped",
                    "TFDS 'svhn_cropped' (Netzer et al. 2011), 32x32 RGB; downloaded by TFDS"),
        DatasetInfo("celeb_a", (64, 64, 3), False, ("train", "validation", "test"), (), "celeb_a",
                    "TFDS 'celeb_a' (Liu et al. 2015), 202,599 aligned 218x178 RGB faces (about 1.4 GB); "
                    "downloaded by TFDS", crop=(40, 15, 148, 148), streamed=True),
        DatasetInfo("omniglot", (28, 28, 1), False, ("train", "test"), ("chardata.mat",), "omniglot",
                    "chardata.mat, the 28x28 Omniglot of Burda et al. (github.com/yburda/iwae)"),
        # Burda et al.'s protocols (the names of their code's --dataset; module docstring).
        DatasetInfo("MNIST", (28, 28, 1), False, ("train", "validation", "test"), _idx_files("mnist"),
                    "mnist",
                    "the four MNIST IDX files (LeCun et al.), as TFDS 'mnist' downloads them",
                    parent="mnist", validation=400),
        DatasetInfo("OMNI", (28, 28, 1), False, ("train", "validation", "test"), ("chardata.mat",),
                    "omniglot",
                    "chardata.mat, the 28x28 Omniglot of Burda et al. (github.com/yburda/iwae)",
                    parent="omniglot", validation=1345, shuffle_seed=123),
    ]
}
ALIASES = {"BinFixMNIST": "binarized_mnist"}  # Burda et al.'s name of the fixed binarization


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (or of the dataset an alias in :data:`ALIASES`
    names); ``ValueError`` for an unknown name."""
    name = ALIASES.get(name, name)
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; available: {sorted(DATASETS) + sorted(ALIASES)}.")
    return DATASETS[name]


def _spec(name, split):
    spec = info(name)
    if split not in spec.splits:
        raise ValueError(f"Dataset {name!r} has splits {list(spec.splits)}, not {split!r}.")
    return spec


def _local_files(spec):
    """``(data_dir, paths looked for, whether they all exist)``."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    local = [os.path.join(data_dir, f) for f in spec.files] if data_dir else []
    return data_dir, local, bool(local) and all(os.path.exists(f) for f in local)


def load_images(name: str, split: str) -> np.ndarray:
    """All images of one split as ``uint8 [n, h, w, c]`` (binary: 0/1, otherwise 0..255).

    Not for :attr:`DatasetInfo.streamed` datasets (``celeb_a``): use :func:`stream`.
    """
    spec = _spec(name, split)
    if spec.streamed:
        raise ValueError(
            f"Dataset {name!r} is too large to hold as arrays; use tfgen.data.stream({name!r}, {split!r}, "
            "batch_size) (uint8 batches) or tfgen.data.load (float32 batches).")
    data_dir, _, local_ok = _local_files(spec)
    if spec.parent:
        images = _protocol_split(spec, split)
    elif spec.name == "digits":
        images = _digits(split)
    elif local_ok:
        path = os.path.join(data_dir, spec.files[0])
        images = _checked(spec, _LOCAL_READERS[spec.name](data_dir, split), path)
    else:
        ds = _from_tfds(spec, split, spec.shape[0], shuffle_files=False, seed=None)
        images = np.concatenate(list(ds.batch(4096).as_numpy_iterator()))
    return images.reshape((-1,) + spec.shape).astype("uint8")


def hold_out(name: str, images: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(train, validation)``: the images a run trains on and those it monitors during training.

    The validation images are the first ``size`` of the dataset's validation split when it
    has one (``digits``, ``binarized_mnist``), else the last ``size`` of ``images`` (the
    training images), at most a tenth of them, which are then removed from training. Never
    the test split.

    Args:
        name: the dataset (:data:`DATASETS`).
        images: the training images, ``[n, ...]`` as :func:`load_images` gives them.
        size: validation images; 0 for none.

    Returns:
        ``(train images, validation images)``, the latter in the layout of ``images``, or
        ``None`` when none are held out.

    Raises:
        ValueError: ``size`` is negative.
    """
    if size < 0:
        raise ValueError(f"--validation-size must be >= 0, got {size}.")
    if "validation" in info(name).splits and size:
        validation = load_images(name, "validation")[:size]
        return images, validation.reshape((len(validation),) + images.shape[1:])
    size = min(size, len(images) // 10)
    return (images[:-size], images[-size:]) if size else (images, None)


def validation_batches(x: np.ndarray, batch_size: int = 100, binarize: bool = False,
                       seed: int = 0) -> tf.data.Dataset:
    """Held-out examples ``x`` as a ``tf.data.Dataset`` of batches in order, for ``fit``'s
    ``validation_data``, as float32; with ``binarize``, pixels in [0, 1] drawn once as Bernoulli
    variables (seeded), so every epoch scores the same binary images."""
    x = np.asarray(x)
    if binarize:
        x = np.random.default_rng(seed).random(x.shape) < x
    # float32 whatever the pixels' type: a multi-worker evaluation all-reduces over the batches,
    # which TensorFlow's collectives refuse for uint8
    return tf.data.Dataset.from_tensor_slices(x.astype("float32")).batch(batch_size)


def _checked(spec, images, path):
    """``images`` if they are whole images of ``spec`` with valid pixels; ``ValueError`` naming ``path``."""
    size = math.prod(spec.shape)
    if images.ndim < 2 or math.prod(images.shape[1:]) != size:
        raise ValueError(f"{path}: expected images of {size} pixels ({'x'.join(map(str, spec.shape))}) "
                         "per row, "
                         f"got an array of shape {images.shape}; the file is not {spec.name!r}.")
    if not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"{path}: pixels must be numbers, got dtype {images.dtype}.")
    valid = np.isin(images, (0, 1)) if spec.binary else (np.isfinite(images) & (images >= 0) & (images <= 255)
                                                         & (images == np.round(images)))
    if not valid.all():
        kind = "0 or 1" if spec.binary else "integers in 0..255"
        raise ValueError(f"{path}: {int((~valid).sum())} pixels are not {kind} (e.g. "
                         f"{images[~valid].flat[0]!r}); the file is corrupt or not {spec.name!r}.")
    return images


def load_labels(name: str, split: str) -> np.ndarray:
    """The class labels of one split, ``int64 [n]`` in ``0 .. classes - 1``, in the order of
    :func:`load_images` (the IDX label file next to the images, or TFDS' ``label`` feature).

    Raises ``ValueError`` for a dataset without labels (``binarized_mnist``, ``digits`` as
    loaded here, ``omniglot``, ``celeb_a``).
    """
    spec = _spec(name, split)
    if not spec.classes:
        labelled = sorted(n for n, s in DATASETS.items() if s.classes)
        raise ValueError(f"Dataset {name!r} has no class labels here; labelled datasets: {labelled}.")
    data_dir, _, local_ok = _local_files(spec)
    if local_ok:
        return _read_idx_labels(data_dir, split, name)
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load(spec.tfds_name, split=split, shuffle_files=False)
    except Exception as error:
        raise _not_found(spec, split, error) from error
    labels = ds.map(lambda example: example["label"]).batch(4096).as_numpy_iterator()
    return np.concatenate(list(labels)).astype("int64")


def _protocol_split(spec, split):
    """A split of a protocol dataset (:attr:`DatasetInfo.parent`): the parent's test images,
    or its training images, permuted if the protocol says so, cut into train and validation."""
    if split == "test":
        return load_images(spec.parent, "test")
    images = load_images(spec.parent, "train")
    if spec.shuffle_seed is not None:
        images = images[np.random.RandomState(spec.shuffle_seed).permutation(len(images))]
    if len(images) <= spec.validation:
        raise ValueError(f"Dataset {spec.name!r} holds out the last {spec.validation} of {spec.parent!r}'s "
                         f"training images for validation, but there are only {len(images)}.")
    return images[:-spec.validation] if split == "train" else images[-spec.validation:]


def num_examples(name: str, split: str) -> int | None:
    """The number of images in a split (``None`` if TFDS does not know it), without reading them."""
    spec = _spec(name, split)
    count = int(_source(spec, split, spec.shape[0], shuffle=False, seed=None, limit=None)[0].cardinality())
    return count if count >= 0 else None


def prefetched(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` prefetched, with tf.data's autotuning model off.

    That model runs in a thread that sleeps between optimisations, twice as long each time up
    to 60 s, and deleting the iterator waits for it to wake: the end of every ``fit`` or
    ``evaluate`` on an autotuned dataset waited up to a minute (4.8 s of a 22-s VRNN ``fit``,
    docs/benchmarks.md). The pipelines here gather batches from memory or decode images with a
    fixed parallelism, which leaves the model little to tune; ``prefetch`` still sizes its buffer
    by itself.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def stream(name: str, split: str, batch_size: int = 32, shuffle: bool | None = None, seed: int | None = None,
           size: int | None = None, limit: int | None = None) -> tf.data.Dataset:
    """Batches of raw pixels, ``uint8 [batch, size, size, c]``, prefetched.

    A dataset with local files in ``$TFGEN_DATA_DIR`` is read from them into memory; any
    other is read from TFDS example by example (decode, crop, resize, cast), so memory stays
    bounded whatever the dataset's size.

    Args:
        name: a key of :data:`DATASETS`.
        split: one of the dataset's ``splits``.
        shuffle: reshuffle every epoch (arrays fully, TFDS streams by file and within a buffer
            of :data:`SHUFFLE_BUFFER` images); defaults to ``split == "train"``.
        seed: seed of the shuffle order and of the ``limit`` subset.
        size: side of the square images yielded (antialiased bilinear resize); defaults to
            the dataset's own (``celeb_a``: 64; 32 is the CPU setting). Not for binary datasets.
        limit: at most this many images: a seeded random subset of a dataset held in memory,
            the first ``limit`` images of a TFDS split (fixed across epochs).
    """
    spec = _spec(name, split)
    return prefetched(_batches(spec, split, batch_size, shuffle, seed, size, limit))


def load(name: str, split: str, batch_size: int = 100, shuffle: bool | None = None, seed: int | None = None,
         binarize: bool = True, flatten: bool = True) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data.Dataset`` of float32 images (the batches of :func:`stream`).

    Args:
        name: a key of :data:`DATASETS`.
        split: ``"train"``, ``"validation"`` or ``"test"`` (as the dataset has them).
        shuffle: reshuffle every epoch; defaults to ``split == "train"``.
        seed: seed of the shuffle order and of the dynamic binarisation.
        binarize: grey datasets get a fresh binarisation each epoch when shuffled (training),
            one fixed binarisation otherwise (held-out splits: every pass scores the same binary
            images); ``False`` gives ``pixel / 255`` in ``[0, 1]``. Ignored for binary datasets.
        flatten: ``[batch, h*w*c]`` vectors (the IWAE family) instead of ``[batch, h, w, c]``.
    """
    spec = _spec(name, split)
    shuffle = split == "train" if shuffle is None else shuffle
    ds = _batches(spec, split, batch_size, shuffle, seed, None, None)
    shape = (-1, int(np.prod(spec.shape))) if flatten else (-1,) + spec.shape
    if spec.binary:
        ds = ds.map(lambda x: tf.reshape(tf.cast(x, "float32"), shape))
    elif binarize:
        noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=shuffle)
        ds = tf.data.Dataset.zip(ds, noise).map(
            lambda x, s: tf.reshape(_bernoulli(tf.cast(x, "float32") / 255.0, s), shape)
        )
    else:
        ds = ds.map(lambda x: tf.reshape(tf.cast(x, "float32") / 255.0, shape))
    return prefetched(ds)


def _batches(spec, split, batch_size, shuffle, seed, size, limit):
    """The one pipeline: source of single uint8 images -> shuffle -> batch."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}.")
    if size is not None and (size < 1 or (spec.binary and size != spec.shape[0])):
        raise ValueError(f"Dataset {spec.name!r} cannot be resized to {size}x{size}"
                         + (" (its pixels are binary)." if spec.binary else "."))
    shuffle = split == "train" if shuffle is None else shuffle
    ds, buffer = _source(spec, split, size or spec.shape[0], shuffle, seed, limit)
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def _source(spec, split, size, shuffle, seed, limit):
    """``(dataset of uint8 [size, size, c] images, shuffle buffer)``: local arrays if there are
    any, else a TFDS stream."""
    if spec.name == "digits" or spec.parent or _local_files(spec)[2]:
        images = load_images(spec.name, split)
        if limit is not None and limit < len(images):
            images = images[np.sort(np.random.default_rng(seed).choice(len(images), limit, replace=False))]
        ds = tf.data.Dataset.from_tensor_slices(images)
        if size != spec.shape[0]:
            ds = ds.map(lambda x: _resize(x, size), num_parallel_calls=tf.data.AUTOTUNE)
        return ds, len(images)
    ds = _from_tfds(spec, split, size, shuffle_files=shuffle and limit is None, seed=seed)
    if limit is not None:
        ds = ds.take(limit)
    count = int(ds.cardinality())
    return ds, min(count, SHUFFLE_BUFFER) if count > 0 else SHUFFLE_BUFFER


def _resize(image, size):
    """Antialiased bilinear resize of one uint8 image to ``[size, size, c]``, rounded back to uint8."""
    resized = tf.image.resize(tf.cast(image, "float32"), (size, size), method="bilinear", antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), "uint8")


def _from_tfds(spec, split, size, shuffle_files, seed):
    """TFDS examples -> uint8 ``[size, size, c]`` images in this package's convention, one by one."""
    try:
        import tensorflow_datasets as tfds

        read_config = tfds.ReadConfig(shuffle_seed=seed) if shuffle_files and seed is not None else None
        options = {"split": split, "shuffle_files": shuffle_files, "read_config": read_config}
        try:  # prepared here (or TFDS mocked): no download, no network
            ds = tfds.load(spec.tfds_name, download=False, **options)
        except Exception:
            _check_reachable(tfds.builder(spec.tfds_name))
            ds = tfds.load(spec.tfds_name, **options)
    except Exception as error:  # any TFDS failure becomes one actionable message
        raise _not_found(spec, split, error) from None

    def convert(example):
        image = example["image"]
        if spec.crop is not None:
            image = tf.image.crop_to_bounding_box(image, *spec.crop)
        if spec.name == "omniglot":  # TFDS draws black 105x105 RGB strokes on white; strokes are 1 here
            grey = tf.cast(tf.image.rgb_to_grayscale(image), "float32")
            image = tf.cast(tf.round(255.0 - tf.image.resize(grey, (28, 28), method="area")), "uint8")
        if image.shape[0] != size or image.shape[1] != size:
            image = _resize(image, size)
        return image

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)


class OfflineError(ConnectionError):
    """The first download URL of a dataset did not answer one request."""


def _check_reachable(builder):
    """Raise :class:`OfflineError` unless one request (no retries, :data:`PROBE_SECONDS`) to the
    dataset's first download URL gets an answer; TFDS' own downloader retries for minutes."""
    import requests

    urls = sorted(builder.url_infos or {})
    if not urls:
        return
    try:
        requests.head(urls[0], timeout=PROBE_SECONDS, allow_redirects=False)
    except requests.RequestException as error:
        raise OfflineError(f"no network: {urls[0]} did not answer ({type(error).__name__})") from None


def _not_found(spec, split, error):
    _, local, _ = _local_files(spec)
    if spec.files:
        looked = ", ".join(local) if local else f"nothing (${DATA_DIR_ENV} is unset)"
        remedy = (f"either let TFDS download it (needs internet) or put {', '.join(spec.files)} "
                  f"({spec.source}) in a folder and set {DATA_DIR_ENV} to it.")
    else:
        looked = "nothing (it has no local-file format)"
        remedy = (f"run `tfds build {spec.tfds_name}` (or tfds.load({spec.tfds_name!r})) once with internet "
                  f"access ({spec.source}), or set TFDS_DATA_DIR to a folder that holds the prepared "
                  f"'{spec.tfds_name}' dataset.")
    return DatasetNotFoundError(
        f"Dataset {spec.name!r} ({split!r}) is not available. Looked in ${DATA_DIR_ENV} for: "
        f"{looked}; TFDS {spec.tfds_name!r} failed with: {type(error).__name__}: {error}. To get it, {remedy}"
    )


def _bernoulli(p, seed):
    u = tf.random.stateless_uniform(tf.shape(p), seed=tf.stack([seed, seed // 2]))
    return tf.cast(u < p, "float32")


def _digits(split):
    from sklearn.datasets import load_digits

    x = (load_digits().images >= 8).astype("uint8")
    order = np.random.default_rng(0).permutation(len(x))
    parts = {"train": order[:1297], "validation": order[1297:1497], "test": order[1497:]}
    return x[parts[split]]


def regular_file(path):
    """``path`` if it is a regular file; ``FileNotFoundError`` / ``ValueError`` (a folder, a FIFO,
    a device: reading those fails or hangs) otherwise."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist.") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device?)"
        raise ValueError(f"{path} is {kind}; expected a data file.")
    return path


def read_npz(path, keys):
    """``{key: array}`` of the ``keys`` of an ``.npz`` (no pickles); ``ValueError`` naming the file if
    it is truncated, empty, not an ``.npz`` or lacks a key."""
    try:
        with np.load(regular_file(path), allow_pickle=False) as f:
            missing = [key for key in keys if key not in f.files]
            if missing:
                raise ValueError(f"{path} lacks the arrays {missing}; it holds {sorted(f.files)}.")
            return {key: f[key] for key in keys}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a readable .npz file ({type(error).__name__}: {error}).") from None


def _read_npz_binarized_mnist(data_dir, split):
    key = {"validation": "valid"}.get(split, split)
    return read_npz(os.path.join(data_dir, "binarized_mnist.npz"), [key])[key]


def _read_idx(data_dir, split, folder):
    stem = "train" if split == "train" else "t10k"
    path = regular_file(os.path.join(data_dir, folder, f"{stem}-images-idx3-ubyte.gz"))
    try:
        with gzip.open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} is not a readable gzip file ({type(error).__name__}: {error}).") from None
    header = [int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4)] if len(raw) >= 16 else None
    if header is None or header[0] != IDX_MAGIC or len(raw) != 16 + header[1] * header[2] * header[3]:
        raise ValueError(f"{path} is not a whole IDX image file (magic 0x{IDX_MAGIC:08x}, 16-byte header, "
                         f"n x rows x cols bytes); it holds {len(raw)} bytes.")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(header[1:])


def _read_idx_labels(data_dir, split, folder):
    stem = "train" if split == "train" else "t10k"
    path = os.path.join(data_dir, folder, f"{stem}-labels-idx1-ubyte.gz")
    if not os.path.exists(path):
        raise DatasetNotFoundError(f"{path} is missing: put the dataset's label file next to its images.")
    with gzip.open(path) as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype("int64")


def _read_chardata(data_dir, split):
    from scipy.io import loadmat

    path = regular_file(os.path.join(data_dir, "chardata.mat"))
    try:
        mat = loadmat(path)
        data = mat["data" if split == "train" else "testdata"].T
    except Exception as error:  # scipy raises many kinds for a corrupt .mat
        raise ValueError(f"{path} is not a readable chardata.mat ({type(error).__name__}: "
                         f"{error}).") from None
    # chardata.mat stores each 28x28 image column-major (as Burda et al.'s loader reads it).
    images = data.reshape(-1, 28, 28).transpose(0, 2, 1)
    return np.round(images * 255.0).astype("uint8")


_LOCAL_READERS = {
    "binarized_mnist": _read_npz_binarized_mnist,
    "mnist": functools.partial(_read_idx, folder="mnist"),
    "fashion_mnist": functools.partial(_read_idx, folder="fashion_mnist"),
    "omniglot": _read_chardata,
}


def epoch_batches(x: np.ndarray, batch_size: int, seed: int, first_epoch: int, epochs: int,
                  dynamic_binarization: bool = False) -> tuple[tf.data.Dataset, int]:
    """Shuffled batches of ``x`` for epochs ``first_epoch .. epochs - 1``, epoch after epoch.

    Epoch ``e``'s order is ``argsort(U)`` with ``U`` stateless-uniform seeded by
    ``(seed, e)``; with ``dynamic_binarization`` (``x`` in ``[0, 1]``) each batch is a fresh
    Bernoulli(x) draw seeded by ``(seed, e, step)`` (Burda et al.'s random binarisation).
    Pass ``steps_per_epoch = ceil(len(x) / batch_size)`` to ``fit``.
    """
    x = np.asarray(x)
    n = len(x)
    if n < 1 or batch_size < 1:
        raise ValueError(f"Need data and batch_size >= 1, got {n} rows and batch_size={batch_size}.")
    steps = math.ceil(n / batch_size)
    table = tf.constant(x)

    def one_epoch(epoch):
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([seed, epoch])))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        steps_ds = tf.data.Dataset.range(steps)
        return tf.data.Dataset.zip(batches, steps_ds).map(lambda idx, step: (idx, epoch * steps + step))

    def gather(idx, step):
        batch = tf.cast(tf.gather(table, idx), "float32")
        if dynamic_binarization:
            u = tf.random.stateless_uniform(tf.shape(batch), seed=tf.stack([seed + 1, step]))
            batch = tf.cast(u < batch, "float32")
        return batch

    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch).map(gather)
    return prefetched(ds), steps
