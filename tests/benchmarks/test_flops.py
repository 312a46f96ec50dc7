"""The analytic FLOP formulas of benchmarks/flops.py against the matmuls and convolutions
TensorFlow actually builds for tiny models (odd sizes, so a swapped or missing term shows)."""
import pytest
import tensorflow as tf

from benchmarks import flops, registry
from zoo import distortion, iwae, vrnn


def _forward_graph_flops(model, shape, loop_trips=None):
    log_w = tf.function(lambda x: model.log_weights(x, model.k).log_w)
    return flops.graph_flops(log_w, tf.TensorSpec(shape), loop_trips=loop_trips)[0]


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vrnn_formula_equals_graph_count(likelihood):
    model = vrnn.VRNN(input_dim=7, rnn_units=5, latent=3, features=4, likelihood=likelihood, k=2, seed=0)
    model.build()
    batch, steps = 3, 6
    expected = flops.vrnn_forward(model.config, batch, steps, model.k)
    assert _forward_graph_flops(model, (batch, steps, 7), loop_trips=steps) == expected
    assert flops.vrnn_step(model.config, batch, steps, model.k) == 3 * expected


def test_vrnn_graph_count_needs_the_trip_count():
    model = vrnn.VRNN(input_dim=7, rnn_units=5, latent=3, features=4, seed=0)
    model.build()
    with pytest.raises(ValueError, match="loop_trips"):
        _forward_graph_flops(model, (2, 4, 7))


def test_topdown_formula_equals_graph_count():
    model = distortion.TopDownVAE.from_config_name("cpu28", width=6, bottleneck=5, latent_channels=3, k=2,
                                                   seed=0)
    expected = flops.topdown_forward(model.config, 2, model.k)
    assert _forward_graph_flops(model, (2, 28, 28, 1)) == expected


def test_iwae_formula_equals_graph_count():
    model = iwae.IWAE(layers=2, k=3, seed=0)
    assert _forward_graph_flops(model, (2, 784)) == flops.iwae_forward(model.config, 2, 3)


def test_conv2d_graph_count_covers_transposed_convolutions():
    x = tf.TensorSpec((2, 5, 5, 3))
    kernel = tf.ones((3, 3, 4, 3))  # conv2d_transpose: [k_h, k_w, c_out, c_in]

    @tf.function
    def transposed(x):
        return tf.nn.conv2d_transpose(x, kernel, (2, 10, 10, 4), strides=2)

    # the 5x5x3 -> 10x10x4 transposed conv costs what the 10x10x4 -> 5x5x3 stride-2 conv costs
    assert flops.graph_flops(transposed, x)[0] == 2 * (2 * 5 * 5 * 3) * (3 * 3 * 4)


def test_registered_cases_have_fixed_shape_data():
    for name in ("vrnn_jsb_fivo_k4", "distortion_fmnist_cpu"):
        case = registry.REGISTRY[name]
        batch = next(iter(case.data(case.batch)))
        frames = batch["frames"] if isinstance(batch, dict) else batch
        assert tuple(frames.shape) == (case.batch, *case.input_shape)
