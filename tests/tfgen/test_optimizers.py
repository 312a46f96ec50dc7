"""tfgen.optimizers.Adam: Keras' Adam update through TensorFlow's fused kernel."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import optimizers

SHAPES = [(3, 4), (4,), (2, 2, 3)]


def _updates(optimizer, steps=5, seed=0):
    """The variables after ``steps`` applications of fixed random gradients."""
    rng = np.random.default_rng(seed)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    for _ in range(steps):
        optimizer.apply([rng.normal(size=shape).astype("float32") * 10 for shape in SHAPES], variables)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate": 3e-2, "beta_1": 0.0, "beta_2": 0.99, "epsilon": 1e-4},  # the distortion dual step
    {"learning_rate": 1e-2, "global_clipnorm": 1.0},
    {"learning_rate": keras.optimizers.schedules.ExponentialDecay(1e-1, 2, 0.5)},
    {"amsgrad": True},  # Keras' own update
])
def test_same_update_as_keras_adam(kwargs):
    fused, reference = _updates(optimizers.Adam(**kwargs)), _updates(keras.optimizers.Adam(**kwargs))
    for a, b in zip(fused, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fused[0], _updates(keras.optimizers.SGD())[0])  # the updates do move


def _fit(optimizer, jit_compile):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    x = np.random.default_rng(1).normal(size=(64, 5)).astype("float32")
    model.fit(x, x.sum(axis=1, keepdims=True), batch_size=16, epochs=3, shuffle=False, verbose=0)
    return model


def test_fit_in_graph_mode_and_under_xla_matches_keras_adam():
    reference = _fit(keras.optimizers.Adam(1e-2), jit_compile=False).get_weights()
    for jit_compile in (False, True):
        for a, b in zip(_fit(optimizers.Adam(1e-2), jit_compile).get_weights(), reference):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_saved_model_loads_with_its_optimizer_state(tmp_path):
    model = _fit(optimizers.Adam(1e-2, epsilon=1e-4), jit_compile=False)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is optimizers.Adam and loaded.optimizer.epsilon == 1e-4
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 12
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = tf.ones((4, 5))
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)
