"""DRAW's attention is Gregor et al.'s filterbank: a full-size window with unit stride and a narrow
filter reads the image itself; filters are normalised and centred where eqs. 19-22 put them."""
import keras
import numpy as np
import tensorflow as tf

from tests.contract import binary
from zoo.draw.model import DRAW, filterbanks


def test_a_full_window_with_unit_stride_reads_the_image_itself():
    # g~ = 0 centres the grid; delta~ = 1 gives stride (H - 1) / (N - 1) = 1 for N = H; sigma^2 = e^-6.
    params = tf.constant([[0.0, 0.0, -6.0, 0.0, 0.0]])
    fx, fy, gamma = filterbanks(params, 6, 6, 6)
    image = tf.constant(np.random.default_rng(0).random((1, 6, 6)), "float32")
    read = gamma[:, None, None] * tf.matmul(fy, tf.matmul(image, fx, transpose_b=True))
    np.testing.assert_allclose(read.numpy(), image.numpy(), atol=1e-3)


def test_filters_are_normalised_and_centred_by_the_attention_parameters():
    params = tf.constant([[0.2, -0.25, 0.0, np.log(0.25), np.log(2.0)]])
    fx, fy, gamma = filterbanks(params, 3, 28, 20)
    np.testing.assert_allclose(tf.reduce_sum(fx, -1).numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(tf.reduce_sum(fy, -1).numpy(), 1.0, rtol=1e-5)
    # Centre g_X = (W + 1)/2 (g~ + 1) = 12.6, stride delta = (max(H, W) - 1)/(N - 1) * 0.25 = 3.375.
    centres = (fx.numpy()[0] * np.arange(1, 21)).sum(-1)
    np.testing.assert_allclose(centres, [9.225, 12.6, 15.975], atol=0.01)
    assert float(gamma[0]) == np.float32(2.0)


def test_canvases_accumulate_to_the_sample_and_reconstruct_images():
    keras.utils.set_random_seed(0)
    model = DRAW(image_shape=(4, 4, 1), steps=3, rnn_units=6, latent=2, read_size=2, write_size=3, seed=0)
    sequence = model.canvases(num=5, seed=1)
    assert sequence.shape == (3, 5, 16)
    np.testing.assert_array_equal(model.sample(5, seed=1).numpy(), sequence[-1].numpy())
    assert model.canvases(x=binary((2, 16)), seed=1).shape == (3, 2, 16)
