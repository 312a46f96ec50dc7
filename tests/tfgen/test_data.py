"""Datasets: local files, the TFDS route (mocked, offline), errors, dynamic binarisation."""
import gzip

import numpy as np
import pytest
import tensorflow_datasets as tfds
from scipy.io import savemat

from tests.markers import requires_data
from tfgen import data


def write_idx(path, images):
    n, rows, cols = images.shape
    header = b"".join(int(v).to_bytes(4, "big") for v in (2051, n, rows, cols))
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + images.astype("uint8").tobytes())


@pytest.fixture
def offline_tfds(monkeypatch):
    """Make any TFDS download fail at once, as on a machine without internet."""
    def refuse(*args, **kwargs):
        raise ConnectionError("no internet")
    monkeypatch.setattr(tfds, "load", refuse)


def test_digits_is_embedded_binary_and_split_disjointly(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    splits = {s: data.load_images("digits", s) for s in ("train", "validation", "test")}
    assert [len(v) for v in splits.values()] == [1297, 200, 300]
    assert all(v.shape[1:] == (8, 8, 1) and set(np.unique(v)) <= {0, 1} for v in splits.values())
    rows = {s: {r.tobytes() for r in v} for s, v in splits.items()}
    assert len(rows["train"] & rows["test"]) < 0.2 * len(rows["test"])  # distinct images, few duplicates
    batch = next(iter(data.load("digits", "test", batch_size=10)))
    assert batch.shape == (10, 64) and batch.dtype == "float32"


def test_binarized_mnist_from_local_npz(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    sizes = {"train": 6, "valid": 3, "test": 4}
    arrays = {split: (rng.random((n, 784)) < 0.3).astype("uint8") for split, n in sizes.items()}
    np.savez(tmp_path / "binarized_mnist.npz", **arrays)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    validation = data.load_images("binarized_mnist", "validation")
    np.testing.assert_array_equal(validation.reshape(3, 784), arrays["valid"])
    batches = list(data.load("binarized_mnist", "test", batch_size=3, shuffle=False))
    np.testing.assert_array_equal(np.concatenate(batches), arrays["test"])


def test_idx_files_and_dynamic_binarisation(tmp_path, monkeypatch):
    grey = np.tile(np.array([0, 64, 128, 255], dtype="uint8"), (200, 28, 7))
    write_idx(tmp_path / "fashion_mnist" / "train-images-idx3-ubyte.gz", grey)
    write_idx(tmp_path / "fashion_mnist" / "t10k-images-idx3-ubyte.gz", grey[:10])
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    images = data.load_images("fashion_mnist", "train")
    assert images.shape == (200, 28, 28, 1)
    np.testing.assert_array_equal(images[..., 0], grey)

    ds = data.load("fashion_mnist", "train", batch_size=200, seed=3)
    first, second = (next(iter(ds)).numpy() for _ in range(2))
    assert set(np.unique(first)) == {0.0, 1.0}
    assert np.mean(first != second) > 0.1  # a fresh binarisation every epoch
    p = grey.reshape(200, -1) / 255.0
    assert abs(first.mean() - p.mean()) < 0.01
    assert np.all(first[:, p[0] == 0] == 0) and np.all(first[:, p[0] == 1] == 1)
    unit = next(iter(data.load("fashion_mnist", "test", batch_size=10, binarize=False, flatten=False)))
    np.testing.assert_allclose(unit.numpy()[..., 0], grey[:10] / 255.0, rtol=1e-6)


def test_omniglot_chardata_layout(tmp_path, monkeypatch):
    images = np.random.default_rng(0).random((5, 28, 28))
    # chardata.mat: one column per image, each image stored column-major.
    columns = images.transpose(0, 2, 1).reshape(5, 784).T
    savemat(tmp_path / "chardata.mat", {"data": columns, "testdata": columns[:, :2]})
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    loaded = data.load_images("omniglot", "train")
    np.testing.assert_allclose(loaded[..., 0], np.round(images * 255), atol=1)


def test_tfds_route_is_used_without_local_files(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    with tfds.testing.mock_data(num_examples=6):
        mnist = data.load_images("mnist", "train")
        omniglot = data.load_images("omniglot", "test")
    assert mnist.shape == (6, 28, 28, 1) and mnist.dtype == np.uint8
    assert omniglot.shape == (6, 28, 28, 1)  # resized from TFDS' 105x105 RGB


def test_missing_dataset_error_names_files_and_remedy(tmp_path, monkeypatch, offline_tfds):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load_images("binarized_mnist", "train")
    message = str(error.value)
    for part in ("'binarized_mnist'", str(tmp_path / "binarized_mnist.npz"), "ConnectionError",
                 "TFGEN_DATA_DIR", "TFDS"):
        assert part in message
    monkeypatch.delenv(data.DATA_DIR_ENV)
    with pytest.raises(data.DatasetNotFoundError, match="TFGEN_DATA_DIR is unset"):
        data.load_images("mnist", "test")


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="Unknown dataset 'cifar'.*binarized_mnist"):
        data.load("cifar", "train")
    with pytest.raises(ValueError, match="splits \\['train', 'test'\\], not 'validation'"):
        data.load_images("mnist", "validation")


@requires_data
def test_real_binarized_mnist_and_fashion_mnist():
    sizes = {s: len(data.load_images("binarized_mnist", s)) for s in ("train", "validation", "test")}
    assert sizes == {"train": 50000, "validation": 10000, "test": 10000}
    test = data.load_images("binarized_mnist", "test")
    assert set(np.unique(test)) == {0, 1} and 0.1 < test.mean() < 0.2
    fashion = data.load_images("fashion_mnist", "test")
    assert fashion.shape == (10000, 28, 28, 1) and fashion.max() == 255


def test_epoch_batches_depend_only_on_seed_and_epoch():
    x = np.arange(23, dtype="float32")[:, None]
    full, steps = data.epoch_batches(x, 5, seed=3, first_epoch=0, epochs=4)
    tail, _ = data.epoch_batches(x, 5, seed=3, first_epoch=2, epochs=4)
    full = [b.numpy() for b in full]
    assert steps == 5 and len(full) == 20
    for a, b in zip(full[10:], tail):
        np.testing.assert_array_equal(a, b)
    for epoch in range(4):  # every epoch is a permutation of the data ...
        np.testing.assert_array_equal(np.sort(np.concatenate(full[5 * epoch:5 * epoch + 5])[:, 0]), x[:, 0])
    assert not np.array_equal(np.concatenate(full[:5]), np.concatenate(full[5:10]))  # ... a new one


def test_dynamic_binarization_draws_bernoulli_batches():
    x = np.full((4000, 1), 0.3, dtype="float32")
    batches, _ = data.epoch_batches(x, 1000, seed=0, first_epoch=0, epochs=1, dynamic_binarization=True)
    values = np.concatenate([b.numpy() for b in batches])
    assert set(np.unique(values)) == {0.0, 1.0} and abs(values.mean() - 0.3) < 0.03


def test_hold_out_uses_the_validation_split_else_the_last_training_images():
    train = data.load_images("digits", "train")
    kept, held = data.hold_out("digits", train, 50)
    assert kept is train and np.array_equal(held, data.load_images("digits", "validation")[:50])
    images = np.arange(20 * 4, dtype="uint8").reshape(20, 2, 2, 1)  # fashion_mnist has no validation split
    kept, held = data.hold_out("fashion_mnist", images, 5)  # at most a tenth of them: 2
    assert np.array_equal(kept, images[:18]) and np.array_equal(held, images[18:])
    assert data.hold_out("fashion_mnist", images, 0) == (images, None)
    kept, held = data.hold_out("fashion_mnist", images[:9], 5)  # a tenth of 9: none held out
    assert held is None and len(kept) == 9
    with pytest.raises(ValueError, match="must be >= 0"):
        data.hold_out("fashion_mnist", images, -1)
    binary = next(iter(data.validation_batches(np.full((30, 4), 0.3), batch_size=30, binarize=True)))
    assert set(np.unique(binary.numpy())) == {0.0, 1.0} and 0.15 < binary.numpy().mean() < 0.45


@requires_data
def test_real_fashion_mnist_labels():
    labels = data.load_labels("fashion_mnist", "train")
    assert labels.shape == (60000,) and np.bincount(labels).tolist() == [6000] * 10
    assert len(data.load_labels("fashion_mnist", "test")) == len(data.load_images("fashion_mnist", "test"))
    with pytest.raises(ValueError, match="no class labels.*fashion_mnist"):
        data.load_labels("binarized_mnist", "train")


def test_burda_protocols_split_mnist_59600_400_and_binarise_dynamically(monkeypatch):
    """Burda et al.'s dataset names, on mock TFDS data (grey-level MNIST is not available here)."""
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    with tfds.testing.mock_data(num_examples=430):
        parent = data.load_images("mnist", "train")
        splits = {s: data.load_images("MNIST", s) for s in ("train", "validation", "test")}
        counts = {s: data.num_examples("MNIST", s) for s in ("train", "validation", "test")}
        train = data.load("MNIST", "train", batch_size=430, seed=1)
        epochs = [next(iter(train)).numpy() for _ in range(2)]
        test = data.load("MNIST", "test", batch_size=430, seed=1)
        passes = [next(iter(test)).numpy() for _ in range(2)]
    assert counts == {"train": 30, "validation": 400, "test": 430}  # the last 400 training images
    np.testing.assert_array_equal(splits["train"], parent[:30])
    np.testing.assert_array_equal(splits["validation"], parent[30:])
    assert set(np.unique(epochs[0])) == {0.0, 1.0} and np.mean(epochs[0] != epochs[1]) > 0.05  # fresh draws
    np.testing.assert_array_equal(passes[0], passes[1])  # a held-out split is binarised once


def test_omni_permutes_chardata_as_the_code_and_holds_out_1345(tmp_path, monkeypatch):
    images = np.random.default_rng(0).random((1350, 28, 28))
    savemat(tmp_path / "chardata.mat", {"data": images.transpose(0, 2, 1).reshape(1350, 784).T,
                                        "testdata": images[:3].transpose(0, 2, 1).reshape(3, 784).T})
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    parent = data.load_images("omniglot", "train")
    train, validation = data.load_images("OMNI", "train"), data.load_images("OMNI", "validation")
    assert len(train) == 5 and len(validation) == 1345 and len(data.load_images("OMNI", "test")) == 3
    order = np.random.RandomState(123).permutation(1350)
    np.testing.assert_array_equal(np.concatenate([train, validation]), parent[order])


def test_bin_fix_mnist_is_binarized_mnist(tmp_path, monkeypatch):
    arrays = {split: np.full((2, 784), i % 2, "uint8") for i, split in enumerate(("train", "valid", "test"))}
    np.savez(tmp_path / "binarized_mnist.npz", **arrays)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.info("BinFixMNIST") is data.info("binarized_mnist")
    validation = data.load_images("BinFixMNIST", "validation")
    np.testing.assert_array_equal(validation.reshape(2, 784), arrays["valid"])


def test_the_project_s_datasets_run_without_tf_data_s_autotuning_model():
    """Its thread held up the end of every ``fit`` and ``evaluate`` for up to a minute."""
    from tfgen import sequences
    from zoo.ssvae.model import semi_supervised_batches

    x = np.arange(12, dtype="float32").reshape(6, 2) / 12
    frames, lengths = np.ones((4, 5, 2), "float32"), np.array([5, 3, 2, 4])
    made = {
        "load": data.load("digits", "test", batch_size=50),
        "stream": data.stream("digits", "test", batch_size=50),
        "epoch_batches": data.epoch_batches(x, 4, seed=0, first_epoch=0, epochs=2)[0],
        "sequences.dataset": sequences.dataset(frames, lengths, batch_size=2, buckets=(4,)),
        "sequences.epoch_batches": sequences.epoch_batches(frames, lengths, 2, 0, 0, 2, buckets=(4,))[0],
        "semi_supervised_batches": semi_supervised_batches(x, x[:2], np.array([0, 1]), 4, 2, 0, 0, 2)[0],
    }
    assert {name: ds.options().autotune.enabled for name, ds in made.items()} == dict.fromkeys(made, False)
