"""Burda et al.'s VAE / IWAE: architecture, training through fit(), saving, bad input."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.markers import requires_data
from tfgen import data, objectives
from zoo.iwae import IWAE, paper_optimizer


def dense_params(*sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_paper_architectures():
    one = IWAE(layers=1)
    one.build()
    encoder = dense_params(784, 200, 200) + 2 * dense_params(200, 50)
    decoder = dense_params(50, 200, 200, 784)
    assert one.count_params() == encoder + decoder
    two = IWAE(layers=2)
    two.build()
    encoder = dense_params(784, 200, 200) + 2 * dense_params(200, 100) + dense_params(100, 100, 100) \
        + 2 * dense_params(100, 50)
    decoder = dense_params(50, 100, 100) + 2 * dense_params(100, 100) + dense_params(100, 200, 200, 784)
    assert two.count_params() == encoder + decoder
    lw = two.log_weights(tf.zeros([3, 784]), 5)
    assert lw.log_w.shape == (5, 3) and set(lw.log_qz) == set(lw.log_pz) == {"z1", "z2"}
    kernel = one.encoder.dense[0].kernel.numpy()
    limit = np.sqrt(6 / (784 + 200))  # Glorot uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


def test_output_bias_is_logit_of_training_mean():
    x = (np.random.default_rng(0).random((500, 64)) < np.linspace(0.05, 0.95, 64)).astype("float32")
    model = IWAE(image_shape=(8, 8, 1))
    model.adapt(x)
    p = np.clip(x.mean(0), 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(model.likelihood.heads["logits"].bias.numpy(), np.log(p / (1 - p)), rtol=1e-5)
    model.adapt(tf.data.Dataset.from_tensor_slices(x).batch(64))
    np.testing.assert_allclose(model.likelihood.heads["logits"].bias.numpy(), np.log(p / (1 - p)), rtol=1e-5)


def digits(split):
    return data.load_images("digits", split).reshape(-1, 64).astype("float32")


@pytest.mark.parametrize("objective,k,estimator", [("vae", 1, "total"), ("iwae", 5, "path")])
def test_fit_improves_the_held_out_bound_on_digits(objective, k, estimator):
    train, test = digits("train"), digits("test")
    model = IWAE(image_shape=(8, 8, 1), k=k, objective=objective, estimator=estimator, seed=1)
    model.adapt(train)
    model.compile(optimizer=paper_optimizer(3e-3))
    before = model.evaluate(test, batch_size=100, verbose=0, return_dict=True)[f"iwae_k{k}"]
    history = model.fit(train, batch_size=50, epochs=6, verbose=0).history
    after = model.evaluate(test, batch_size=100, verbose=0, return_dict=True)[f"iwae_k{k}"]
    assert history["loss"][-1] < history["loss"][0]
    assert after > before + 3.0


@requires_data
def test_fit_improves_the_bound_on_real_binarized_mnist():
    train = data.load_images("binarized_mnist", "train")[:3000].reshape(-1, 784).astype("float32")
    test = data.load_images("binarized_mnist", "test")[:500].reshape(-1, 784).astype("float32")
    model = IWAE(k=5, seed=0)
    model.adapt(train)
    model.compile(optimizer=paper_optimizer())
    before = model.evaluate(test, batch_size=100, verbose=0, return_dict=True)["iwae_k5"]
    model.fit(train, batch_size=100, epochs=3, verbose=0)
    after = model.evaluate(test, batch_size=100, verbose=0, return_dict=True)["iwae_k5"]
    assert before < -200 and after > before + 20 and after < -90


def test_save_and_load_round_trips_give_identical_log_weights(tmp_path):
    x = digits("test")[:16]
    model = IWAE(image_shape=(8, 8, 1), layers=2, k=3, seed=4)
    model.compile(optimizer=paper_optimizer())
    model.fit(digits("train")[:200], batch_size=50, epochs=1, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.weights.h5"), save_weights_only=True)])
    reference = model.log_weights(x, 6, seed=11).log_w.numpy()

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, IWAE) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.log_weights(x, 6, seed=11).log_w.numpy(), reference)

    for path in ("model.weights.h5", "ckpt.weights.h5"):
        if path == "model.weights.h5":
            model.save_weights(tmp_path / path)
        fresh = IWAE.from_config(model.get_config())
        fresh.build()
        fresh.load_weights(tmp_path / path)
        np.testing.assert_array_equal(fresh.log_weights(x, 6, seed=11).log_w.numpy(), reference)


def test_samples_are_probabilities():
    model = IWAE(image_shape=(8, 8, 1), layers=2, seed=0)
    samples = model.sample(9).numpy()
    assert samples.shape == (9, 64) and samples.min() >= 0 and samples.max() <= 1


def test_bad_input_raises_before_training():
    model = IWAE(image_shape=(8, 8, 1))
    model.compile(optimizer=paper_optimizer())
    x = digits("train")[:50]
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 8, 1\) or flat \(batch, 64\), got \(50, 8, 8\)"):
        model.fit(x.reshape(50, 8, 8), verbose=0)
    with pytest.raises(ValueError, match="binary data"):
        model.fit(x * 0.5, verbose=0)
    nan = x.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(nan, verbose=0)
    with pytest.raises(ValueError, match="binary data"):
        model.fit(tf.data.Dataset.from_tensor_slices(x * 3).batch(10), verbose=0)
    assert model.optimizer.iterations.numpy() == 0
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    for bad, match in [({"k": 0}, "k must be"), ({"layers": 3}, "1 or 2 stochastic layers"),
                       ({"objective": "wake-sleep"}, "Unknown objective"),
                       ({"image_shape": (0, 28, 1)}, "image_shape"),
                       ({"input_dim": 784}, "no hyper-parameter")]:
        with pytest.raises(ValueError, match=match):
            IWAE(**bad)
    assert objectives.check_k(50) == 50


def test_named_configurations_and_their_overrides():
    two = IWAE.from_config_name("burda2016_l2", k=50)
    assert (two.config.layers, two.config.latent, two.k) == (2, (100, 50), 50)
    assert two.config.hidden == ((200, 200), (100, 100))
    one = IWAE.from_config_name("burda2016_l2", layers=1)  # sizes follow the overridden depth
    assert (one.config.latent, one.config.hidden) == ((50,), ((200, 200),))
    with pytest.raises(ValueError, match="Unknown configuration 'burda2015'"):
        IWAE.from_config_name("burda2015")


@pytest.mark.parametrize("blocks", [{"encoder": "conv", "decoder": "conv"}, {"likelihood": "gaussian"},
                                    {"likelihood": "gaussian_fixed", "likelihood_scale": 0.2}])
def test_blocks_compose_and_images_or_flat_rows_give_the_same_log_weights(blocks):
    x = digits("test")[:5]
    model = IWAE(image_shape=(8, 8, 1), latent=(3,), hidden=((16,),), activation="relu", seed=0, **blocks)
    flat = model.log_weights(x, 4, seed=2).log_w.numpy()
    images = model.log_weights(x.reshape(5, 8, 8, 1), 4, seed=2).log_w.numpy()
    assert flat.shape == (4, 5) and np.all(np.isfinite(flat))
    np.testing.assert_allclose(images, flat, rtol=1e-6)
    z = tf.random.normal([2, 5, 3])
    decoded = model.decode(z)  # p(x | z) as a TFP distribution: batch [2, 5], event [64]
    assert decoded.batch_shape == (2, 5) and decoded.event_shape == (64,)
    np.testing.assert_allclose(decoded.log_prob(x).numpy(), model.log_likelihood(x, z).numpy(), rtol=1e-4,
                               atol=1e-3)
    assert model.sample(3).shape == (3, 64)


def test_a_gaussian_likelihood_takes_intensities_and_a_bernoulli_one_refuses_them():
    x = np.random.default_rng(0).random((20, 64)).astype("float32")
    gaussian = IWAE(image_shape=(8, 8, 1), likelihood="gaussian", seed=0)
    gaussian.compile(optimizer="adam")
    assert np.isfinite(gaussian.evaluate(x, verbose=0, return_dict=True)["elbo"])
    bernoulli = IWAE(image_shape=(8, 8, 1), seed=0)
    bernoulli.compile(optimizer="adam")
    with pytest.raises(ValueError, match="binary data"):
        bernoulli.evaluate(x, verbose=0)
