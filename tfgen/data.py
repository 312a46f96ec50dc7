"""Datasets as ``tf.data.Dataset``s: TFDS first, local files in ``$TFGEN_DATA_DIR`` offline.

Where the data comes from, in order:

1. ``$TFGEN_DATA_DIR``, when it holds the dataset's standard files (listed per dataset in
   :data:`DATASETS`; the layout of ``../shared/data/README.md``);
2. TensorFlow Datasets (``tfds.load``), which downloads on first use;
3. otherwise a :class:`DatasetNotFoundError` naming the dataset, the files looked for and
   how to get them.

``digits`` (the 8x8 digits scikit-learn ships, thresholded at 8 of 16) needs neither and is
the default for quick runs. Images are ``uint8 [n, h, w, 1]``: ``{0, 1}`` for binary
datasets, ``0..255`` for grey ones. :func:`load` turns them into flat float32 batches;
grey images are binarised dynamically (Burda et al. 2016: a fresh Bernoulli(pixel / 255)
sample each epoch) unless ``binarize=False``, which yields ``pixel / 255``.
"""
import dataclasses
import functools
import gzip
import os

import numpy as np
import tensorflow as tf

DATA_DIR_ENV = "TFGEN_DATA_DIR"


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
                    "the four MNIST IDX files (LeCun et al.), as TFDS 'mnist' downloads them"),
        DatasetInfo("fashion_mnist", (28, 28, 1), False, ("train", "test"), _idx_files("fashion_mnist"),
                    "fashion_mnist", "the four Fashion-MNIST IDX files (Xiao et al. 2017)"),
        DatasetInfo("svhn", (32, 32, 3), False, ("train", "test"), (), "svhn_cropped",
                    "TFDS 'svhn_cropped' (Netzer et al. 2011), 32x32 RGB; downloaded by TFDS"),
        DatasetInfo("omniglot", (28, 28, 1), False, ("train", "test"), ("chardata.mat",), "omniglot",
                    "chardata.mat, the 28x28 Omniglot of Burda et al. (github.com/yburda/iwae)"),
    ]
}


def info(name):
    """The :class:`DatasetInfo` of ``name``; ``ValueError`` for an unknown name."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; available: {sorted(DATASETS)}.")
    return DATASETS[name]


def load_images(name, split):
    """All images of one split as ``uint8 [n, h, w, 1]`` (binary: 0/1, grey: 0..255)."""
    spec = info(name)
    if split not in spec.splits:
        raise ValueError(f"Dataset {name!r} has splits {list(spec.splits)}, not {split!r}.")
    data_dir = os.environ.get(DATA_DIR_ENV)
    local = [os.path.join(data_dir, f) for f in spec.files] if data_dir else []
    if name == "digits":
        images = _digits(split)
    elif local and all(os.path.exists(f) for f in local):
        images = _LOCAL_READERS[name](data_dir, split)
    else:
        images = _from_tfds(spec, split, local, data_dir)
    return images.reshape((-1,) + spec.shape).astype("uint8")


def load(name, split, batch_size=100, shuffle=None, seed=None, binarize=True, flatten=True):
    """A batched, prefetched ``tf.data.Dataset`` of float32 images.

    Args:
        name: a key of :data:`DATASETS`.
        split: ``"train"``, ``"validation"`` or ``"test"`` (as the dataset has them).
        shuffle: reshuffle every epoch; defaults to ``split == "train"``.
        seed: seed of the shuffle order and of the dynamic binarisation.
        binarize: grey datasets get a fresh binarisation each epoch; ``False`` gives
            ``pixel / 255`` in ``[0, 1]``. Ignored for binary datasets.
        flatten: ``[batch, h*w]`` vectors (the IWAE family) instead of ``[batch, h, w, 1]``.
    """
    images = load_images(name, split)
    spec = info(name)
    shuffle = split == "train" if shuffle is None else shuffle
    ds = tf.data.Dataset.from_tensor_slices(images)
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    shape = (-1, int(np.prod(spec.shape))) if flatten else (-1,) + spec.shape
    if spec.binary:
        ds = ds.map(lambda x: tf.reshape(tf.cast(x, "float32"), shape))
    elif binarize:
        noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, noise).map(
            lambda x, s: tf.reshape(_bernoulli(tf.cast(x, "float32") / 255.0, s), shape)
        )
    else:
        ds = ds.map(lambda x: tf.reshape(tf.cast(x, "float32") / 255.0, shape))
    return ds.prefetch(tf.data.AUTOTUNE)


def _bernoulli(p, seed):
    u = tf.random.stateless_uniform(tf.shape(p), seed=tf.stack([seed, seed // 2]))
    return tf.cast(u < p, "float32")


def _digits(split):
    from sklearn.datasets import load_digits

    x = (load_digits().images >= 8).astype("uint8")
    order = np.random.default_rng(0).permutation(len(x))
    parts = {"train": order[:1297], "validation": order[1297:1497], "test": order[1497:]}
    return x[parts[split]]


def _read_npz_binarized_mnist(data_dir, split):
    with np.load(os.path.join(data_dir, "binarized_mnist.npz")) as f:
        return f[{"validation": "valid"}.get(split, split)]


def _read_idx(data_dir, split, folder):
    stem = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(data_dir, folder, f"{stem}-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def _read_chardata(data_dir, split):
    from scipy.io import loadmat

    mat = loadmat(os.path.join(data_dir, "chardata.mat"))
    data = mat["data" if split == "train" else "testdata"].T
    # chardata.mat stores each 28x28 image column-major (as Burda et al.'s loader reads it).
    images = data.reshape(-1, 28, 28).transpose(0, 2, 1)
    return np.round(images * 255.0).astype("uint8")


_LOCAL_READERS = {
    "binarized_mnist": _read_npz_binarized_mnist,
    "mnist": functools.partial(_read_idx, folder="mnist"),
    "fashion_mnist": functools.partial(_read_idx, folder="fashion_mnist"),
    "omniglot": _read_chardata,
}


def _from_tfds(spec, split, local, data_dir):
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load(spec.tfds_name, split=split).map(lambda example: example["image"])
        images = np.concatenate(list(tfds.as_numpy(ds.batch(4096))))
    except Exception as error:  # any TFDS failure becomes one actionable message
        looked = ", ".join(local) if local else f"nothing (${DATA_DIR_ENV} is unset)"
        raise DatasetNotFoundError(
            f"Dataset {spec.name!r} ({split!r}) is not available. Looked in ${DATA_DIR_ENV} for: "
            f"{looked}; TFDS {spec.tfds_name!r} failed with: {type(error).__name__}: {error}. "
            f"To get it, either let TFDS download it (needs internet) or put {', '.join(spec.files)} "
            f"({spec.source}) in a folder and set {DATA_DIR_ENV} to it."
        ) from error
    if spec.name == "omniglot":
        grey = tf.image.rgb_to_grayscale(images)
        small = tf.image.resize(tf.cast(grey, "float32"), (28, 28), method="area").numpy()
        images = np.round(255.0 - small)  # TFDS draws black strokes on white; strokes are 1 here
    return np.asarray(images)
