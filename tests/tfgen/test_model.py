"""The base model's Keras contract: fit/evaluate/predict, metrics, data checks."""
import keras
import numpy as np
import pytest

from tests import linear_gaussian


def test_fit_raises_the_bound_and_logs_the_standard_keys():
    model, x = linear_gaussian.make(n=512)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    history = model.fit(x, batch_size=64, epochs=8, verbose=0).history
    after = model.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    assert set(history) == {"loss", "elbo", "iwae_k1", "reconstruction", "kl", "kl_z"}
    assert after["elbo"] > before["elbo"] + 1.0
    assert after["loss"] == pytest.approx(-after["iwae_k1"], rel=1e-5)  # default objective: iwae
    exact = float(np.mean(model.exact_log_likelihood(x.numpy())))
    assert after["elbo"] <= exact + 0.05
    np.testing.assert_allclose(after["elbo"], after["reconstruction"] - after["kl"], rtol=1e-4)
    assert model.predict(x[:10], verbose=0).shape == (10,)


class ShapedBuild(linear_gaussian.LinearGaussian):
    """A user's model whose ``build`` needs the input shape, as Keras' own ``Layer.build``."""

    def build(self, input_shape):
        super().build()


class PartlyBuilt(linear_gaussian.LinearGaussian):
    """A user's model whose ``build`` leaves its decoder to be built on the first call."""

    def build(self, input_shape=None):
        self.encoder.build((None, self.data_dim))
        self.built = True


@pytest.mark.parametrize("cls", [ShapedBuild, PartlyBuilt])
def test_fit_trains_models_that_build_on_their_first_call(cls):
    x = linear_gaussian.make(n=12)[1]
    model = cls(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=6, epochs=1, verbose=0).history  # Keras builds them while tracing
    assert np.isfinite(history["loss"][0]) and int(model.optimizer.iterations) == 2


def test_fit_on_a_dataset_does_not_warn_about_shuffle():
    import warnings

    import tensorflow as tf

    model, x = linear_gaussian.make(n=64)
    model.compile(optimizer="adam")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(32), epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)]


def test_bad_data_is_refused_before_training():
    model, x = linear_gaussian.make(n=8)
    model.compile(optimizer="adam")
    weights = [w.copy() for w in model.get_weights()]
    bad = x.numpy().copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite values"):
        model.fit(bad, epochs=1, verbose=0)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.evaluate(bad, verbose=0)
    with pytest.raises(ValueError, match="expected 4 features"):
        model.fit(x.numpy()[:, :3], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="numeric"):
        model.fit(np.array([["a"] * 4]), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_constructor_refuses_bad_settings():
    with pytest.raises(ValueError, match="k must be"):
        linear_gaussian.LinearGaussian(k=0)
    with pytest.raises(ValueError, match="Unknown objective"):
        linear_gaussian.LinearGaussian(bound="rws")
    with pytest.raises(ValueError, match="Unknown gradient estimator"):
        linear_gaussian.LinearGaussian(estimator="rebar")
    with pytest.raises(ValueError, match="needs k >= 2"):
        linear_gaussian.LinearGaussian(estimator="vimco", k=1)
