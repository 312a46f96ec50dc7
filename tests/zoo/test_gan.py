"""The GAN's own train_step moves both networks through fit(), saves both optimizers, and pulls
the generated distribution towards the data by the kernel two-sample statistic."""
import keras
import numpy as np
import pytest

from tfgen import divergences
from zoo.gan.model import GAN

PATTERNS = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], "float32")


def data(n=512, seed=0):
    """2x2 images: one of two patterns with a little grey noise."""
    rng = np.random.default_rng(seed)
    return np.clip(PATTERNS[rng.integers(0, 2, n)] + 0.05 * rng.normal(size=(n, 4)), 0, 1).astype("float32")


def gan():
    keras.utils.set_random_seed(0)
    model = GAN(image_shape=(2, 2, 1), noise=2, hidden=(16,), discriminator_hidden=(16,), seed=0)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(5e-3, beta_1=0.5),
                  discriminator_optimizer=keras.optimizers.Adam(5e-3, beta_1=0.5))
    return model


def mmd(model, x):
    return float(divergences.mmd(x, model.sample(len(x), seed=1), kernel="rbf", estimator="unbiased"))


def test_training_pulls_the_generator_to_the_data_by_mmd():
    model, x = gan(), data()
    before = mmd(model, data(seed=2))
    history = model.fit(x, batch_size=64, epochs=40, verbose=0).history
    assert {"loss", "generator_loss", "accuracy", "log_ratio_gen"} <= set(history)
    after = mmd(model, data(seed=2))
    assert after < before / 5
    # The discriminator's logit estimates log p_data / p_gen: near 0 at generated images once they look real.
    assert abs(history["log_ratio_gen"][-1]) < 1.0


def test_both_optimizers_and_the_weights_round_trip_through_a_keras_file(tmp_path):
    model = gan()
    traces, train_step = [], model.train_step
    model.train_step = lambda batch: traces.append(batch) or train_step(batch)
    model.fit(data(64), batch_size=32, epochs=1, verbose=0)
    assert len(traces) == 1  # both optimizers' variables exist before fit traces its step
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert int(loaded.optimizer.iterations) == int(loaded.discriminator_optimizer.iterations) == 2
    np.testing.assert_array_equal(loaded.sample(5, seed=3).numpy(), model.sample(5, seed=3).numpy())
    np.testing.assert_array_equal(loaded(data(5)).numpy(), model(data(5)).numpy())


def test_images_outside_the_unit_interval_are_refused_before_training():
    model = gan()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        model.fit(data(8) * 255, batch_size=4, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
