"""The TFDS streaming route of tfgen.data (SVHN, CelebA), offline with tfds.testing.mock_data.

``mock_data`` fakes ``tfds.load`` with examples that have the real features (``celeb_a``:
``image`` uint8 218x178x3, ``svhn_cropped``: 32x32x3) and never downloads; any split name is
accepted and every split yields the same examples.
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfgen import data


@pytest.fixture(autouse=True)
def no_local_files(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


LEFT, RIGHT = (200, 100, 50), (10, 20, 250)


def two_colour_faces(self, split, **kwargs):
    """CelebA-shaped images: black outside the documented 148x148 crop (rows 40..187,
    columns 15..162); inside, its left half one colour and its right half another."""
    image = np.zeros((218, 178, 3), "uint8")
    image[40:188, 15:89] = LEFT
    image[40:188, 89:163] = RIGHT
    return tf.data.Dataset.from_tensors({"image": image}).repeat(6)


@pytest.mark.parametrize("size", [None, 32])
def test_celeb_a_is_cropped_then_resized(size):
    with tfds.testing.mock_data(as_dataset_fn=two_colour_faces):
        batches = [b.numpy() for b in data.stream("celeb_a", "test", 4, size=size)]
    side = size or 64
    assert [b.shape for b in batches] == [(4, side, side, 3), (2, side, side, 3)]
    x = np.concatenate(batches)
    assert x.dtype == np.uint8
    # A crop one row or column off would bring black pixels into the edges; channels stay in order.
    half = side // 2
    assert (x[:, :, : half - 1] == LEFT).all() and (x[:, :, half + 1:] == RIGHT).all()


def test_svhn_and_celeb_a_batches_from_mock_tfds():
    with tfds.testing.mock_data(num_examples=10):
        svhn = data.stream("svhn", "train", 4, seed=0)
        epochs = [np.concatenate([b.numpy() for b in svhn]) for _ in range(2)]
        celeb = next(iter(data.stream("celeb_a", "train", 4, seed=0, size=32))).numpy()
        svhn_test = np.concatenate([b.numpy() for b in data.stream("svhn", "test", 4)])
        unit = np.concatenate(list(data.load("svhn", "test", 4, binarize=False, flatten=False)))
        arrays = data.load_images("svhn", "test")
        subset = [np.concatenate([b.numpy() for b in data.stream("celeb_a", "train", 3, seed=0, limit=5)])
                  for _ in range(2)]
        first = np.concatenate([b.numpy() for b in data.stream("celeb_a", "train", 5, shuffle=False)])[:5]
        counts = data.num_examples("celeb_a", "validation"), data.num_examples("svhn", "test")
    assert epochs[0].shape == (10, 32, 32, 3) and epochs[0].dtype == np.uint8
    assert celeb.shape == (4, 32, 32, 3) and celeb.dtype == np.uint8
    assert epochs[0].max() > 200 and epochs[0].min() < 50  # raw 0..255 pixels, not rescaled
    # Reshuffled every epoch, every image once per epoch.
    assert not np.array_equal(epochs[0], epochs[1])
    rows = [np.sort(epoch.reshape(10, -1), 0) for epoch in epochs]
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_array_equal(arrays, svhn_test)  # the arrays route is the same pipeline
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, svhn_test / 255.0, rtol=1e-6)
    # limit: the same first five images every epoch (shuffled), for a TFDS stream.
    assert subset[0].shape == (5, 64, 64, 3)
    for epoch in subset:
        np.testing.assert_array_equal(np.sort(epoch.reshape(5, -1), 0), np.sort(first.reshape(5, -1), 0))
    assert counts == (10, 10)


def test_streamed_dataset_refuses_arrays_and_bad_sizes():
    with pytest.raises(ValueError, match="too large to hold as arrays.*tfgen.data.stream"):
        data.load_images("celeb_a", "train")
    with pytest.raises(ValueError, match="splits \\['train', 'validation', 'test'\\], not 'extra'"):
        data.stream("celeb_a", "extra")
    with pytest.raises(ValueError, match="binary"):
        data.stream("digits", "train", size=16)


def test_missing_tfds_dataset_names_it_and_the_remedy(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(tfds, "load", refuse)
    monkeypatch.setattr(data, "_check_reachable", lambda builder: None)  # the URL answers; TFDS fails
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    for name, tfds_name in [("celeb_a", "celeb_a"), ("svhn", "svhn_cropped")]:
        with pytest.raises(data.DatasetNotFoundError) as error:
            data.stream(name, "train", 8)
        message = str(error.value)
        for part in (f"'{name}'", f"TFDS '{tfds_name}'", "ConnectionError: no internet",
                     f"tfds build {tfds_name}", "TFDS_DATA_DIR", "no local-file format"):
            assert part in message, (part, message)


def digit_images(self, split, **kwargs):
    """MNIST-shaped examples whose every pixel holds the label, so images and labels pair up."""
    labels = np.arange(12) % 10
    images = np.repeat(labels.astype("uint8"), 28 * 28).reshape(12, 28, 28, 1)
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})


def test_mnist_labels_from_tfds_pair_with_its_images():
    with tfds.testing.mock_data(as_dataset_fn=digit_images):
        images, labels = data.load_images("mnist", "train"), data.load_labels("mnist", "train")
    assert labels.dtype == np.int64 and labels.tolist() == (np.arange(12) % 10).tolist()
    np.testing.assert_array_equal(images[:, 0, 0, 0], labels)
