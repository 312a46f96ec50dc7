"""tfgen.noise: Keras' draws outside XLA, ThreeFry draws of the right law under XLA."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import noise

SHAPE = (200, 500)  # 100,000 draws: the sample mean is within 0.02 of 0 at 6 standard errors


@pytest.mark.parametrize("draw, keras_draw", [(noise.normal, keras.random.normal),
                                              (noise.uniform, keras.random.uniform)],
                         ids=["normal", "uniform"])
def test_outside_xla_the_draws_are_keras(draw, keras_draw):
    ours_seed, their_seed = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    ours = tf.function(lambda: draw(SHAPE, ours_seed))()
    theirs = tf.function(lambda: keras_draw(SHAPE, seed=their_seed))()
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def _xla_draws(seed):
    generator = keras.random.SeedGenerator(seed)

    @tf.function(jit_compile=True)
    def draws():
        return noise.normal(SHAPE, generator), noise.normal(SHAPE, generator), noise.uniform(SHAPE, generator)

    return [t.numpy() for t in draws()]


def test_under_xla_the_draws_have_their_law_and_follow_the_seed():
    first, second, uniform = _xla_draws(5)
    for z in (first, second):
        assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
        assert abs(np.mean(z**3)) < 0.05 and abs(np.mean(z**4) - 3) < 0.1  # normal skew and kurtosis
    assert np.corrcoef(first.ravel(), second.ravel())[0, 1] < 0.02  # the generator advances
    assert uniform.min() >= 0 and uniform.max() < 1
    assert abs(uniform.mean() - 0.5) < 0.01 and abs(uniform.var() - 1 / 12) < 0.005
    again, other = _xla_draws(5), _xla_draws(6)
    np.testing.assert_array_equal(first, again[0])  # a seed fixes the draws
    assert not np.allclose(first, other[0])
