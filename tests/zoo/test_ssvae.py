"""Semi-supervised VAEs: the enumerated bound is the expectation of the sampled one, and a few
labels with many unlabelled images teach the classifier."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.contract import _labelled, _ssvae
from zoo.ssvae.model import SemiSupervisedVAE, labelled_subset, semi_supervised_batches


@pytest.mark.parametrize("auxiliary", [0, 3], ids=["m2", "adgm"])
def test_unlabelled_bound_sums_the_class_out_exactly(auxiliary):
    """U(x) = E_q(a|x) sum_y q(y|a,x) (E log w(x, y) - log q(y|a,x)) is the mean of the weights
    log_weights draws with y ~ q(y|a,x): the Monte Carlo mean of 20000 draws agrees within 4 standard
    errors (and 0.1 nats for the noise of the enumerated bound's own 4000 draws of z and a)."""
    keras.utils.set_random_seed(0)
    model = _ssvae(auxiliary)
    model.build()
    data = _labelled()
    model.k = 4000  # the enumerated bound averaged over 4000 draws of z (and a)
    exact = model(data).unlabelled["bound"].numpy()
    draws = model.log_weights(data["images"], 20000, seed=1).log_w.numpy()
    error = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - exact) < 4 * error + 0.1)


def test_a_few_labels_and_many_unlabelled_images_teach_the_classifier():
    """Two classes of noisy 4x4 stripes (left or right half on), 2 labels each, 400 unlabelled images."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 600)
    pattern = np.stack([np.repeat([[1, 1, 0, 0]], 4, 0).ravel(), np.repeat([[0, 0, 1, 1]], 4, 0).ravel()])
    flip = rng.random((600, 16)) < 0.1
    x = np.abs(pattern[labels] - flip).astype("float32")
    chosen = labelled_subset(labels[:400], 2, seed=0)
    unlabelled = np.delete(x[:400], chosen, axis=0)
    keras.utils.set_random_seed(0)
    model = SemiSupervisedVAE(
        image_shape=(4, 4, 1), classes=2, latent=2, hidden=(16,), classifier_weight=10.0, seed=0
    )
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    ds, _ = semi_supervised_batches(unlabelled, x[chosen], labels[chosen], 50, 20, 0, 0, 15)
    model.fit(ds, epochs=1, verbose=0)  # the 15 epochs of batches in one pass
    predicted = np.argmax(model.predict(x[400:], verbose=0), axis=-1)
    assert np.mean(predicted != labels[400:]) < 0.05


def test_batches_pair_each_unlabelled_batch_with_labelled_images_and_resume_exactly():
    unlabelled = np.arange(40, dtype="float32").reshape(10, 4)
    labelled, labels = -np.arange(12, dtype="float32").reshape(3, 4), np.array([0, 1, 2])
    full, steps = semi_supervised_batches(unlabelled, labelled, labels, 4, 5, 7, 0, 3)
    tail, _ = semi_supervised_batches(unlabelled, labelled, labels, 4, 5, 7, 1, 3)
    full, tail = list(full.as_numpy_iterator()), list(tail.as_numpy_iterator())
    assert steps == 3 and len(full) == 9 and len(tail) == 6
    for a, b in zip(full[3:], tail):
        assert all(np.array_equal(a[key], b[key]) for key in a)
    batch = full[0]
    assert batch["labelled_images"].shape == (5, 4)
    np.testing.assert_array_equal(
        -batch["labelled_images"][:, 0] / 4, batch["labels"]
    )  # rows keep their labels


def test_labelled_subset_takes_the_same_number_of_each_class():
    labels = np.repeat(np.arange(4), 30)
    chosen = labelled_subset(labels, 5, seed=1)
    assert np.bincount(labels[chosen]).tolist() == [5] * 4
    with pytest.raises(ValueError, match="fewer than 40"):
        labelled_subset(labels, 40, seed=1)


def test_fit_without_labels_names_the_data_it_needs():
    model = _ssvae(0)
    model.build()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="labelled_images"):
        model.fit(tf.constant(_labelled()["images"]), batch_size=6, epochs=1, verbose=0)
