"""Flow posteriors (tfgen.flows): exact log-determinants, autoregressive masks, normalised densities."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate

from tfgen import flows

UNITS = 4


def _jacobian_log_det(forward, z):
    """``log |det d forward / dz|`` per row of ``z [n, d]`` from TensorFlow's autodiff Jacobian."""
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = forward(z)
    jac = tape.batch_jacobian(out, z)  # [n, d, d]
    return tf.linalg.slogdet(jac)[1].numpy()


def _planar(steps=3, seed=0):
    keras.utils.set_random_seed(seed)
    flow = flows.PlanarFlow(UNITS, steps)
    flow.build((None, 5))
    flow.dense.kernel.assign(tf.random.normal(flow.dense.kernel.shape, stddev=0.7, seed=seed))
    return flow


def _iaf(steps=2, seed=0):
    keras.utils.set_random_seed(seed)
    flow = flows.InverseAutoregressiveFlow(UNITS, steps, hidden=(16,), context=3)
    flow.build((None, 5))
    for made in flow.mades:  # move the zero-initialised output layers so the steps are not near-identity
        for layer in (made.shift, made.gate):
            layer.kernel.assign(tf.random.normal(layer.kernel.shape, stddev=0.5, seed=seed))
    return flow


@pytest.mark.parametrize("make", [_planar, _iaf], ids=["planar", "iaf"])
def test_log_det_equals_the_autodiff_jacobians(make):
    flow = make()
    h = tf.random.normal((6, 5), seed=1)
    z = tf.random.normal((6, UNITS), seed=2)
    params = flow.params(h)
    out, log_det = flow.forward(z, params)
    assert out.shape == z.shape and log_det.shape == (6,)
    expected = _jacobian_log_det(lambda v: flow.forward(v, params)[0], z)
    np.testing.assert_allclose(log_det.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert np.abs(expected).max() > 0.05  # the maps are far from volume-preserving


def test_planar_steps_stay_invertible_whatever_u_and_w():
    # u_hat makes w^T u_hat >= -1, so 1 + u_hat^T w tanh'(a) > 0: the derivative along w never
    # changes sign, even for a u pointing against w.
    flow = _planar(steps=1)
    flow.dense.bias.assign(tf.zeros_like(flow.dense.bias))
    u = -5.0 * np.eye(UNITS, dtype="float32")[0]
    kernel = np.zeros(flow.dense.kernel.shape, "float32")
    bias = np.concatenate([u, np.eye(UNITS, dtype="float32")[0], [0.0]]).astype("float32")
    flow.dense.kernel.assign(kernel)
    flow.dense.bias.assign(bias)
    line = np.zeros((201, UNITS), "float32")
    line[:, 0] = np.linspace(-4, 4, 201)
    out, log_det = flow.forward(tf.constant(line), flow.params(tf.zeros((201, 5))))
    assert np.all(np.diff(out.numpy()[:, 0]) > 0) and np.all(np.isfinite(log_det.numpy()))


@pytest.mark.parametrize("reverse", [False, True])
def test_made_output_i_depends_only_on_inputs_before_i(reverse):
    keras.utils.set_random_seed(0)
    made = flows.MADE(UNITS, hidden=(12, 12), context=3, reverse=reverse)
    made.build()
    for layer in (made.shift, made.gate):
        layer.kernel.assign(tf.random.normal(layer.kernel.shape, seed=4))
    order = list(range(UNITS))[::-1] if reverse else list(range(UNITS))
    z, h = tf.random.normal((1, UNITS), seed=5), tf.random.normal((1, 3), seed=6)
    base = [t.numpy()[0] for t in made(z, h)]
    for position, i in enumerate(order):
        bumped = z.numpy().copy()
        bumped[0, i] += 1.0
        out = [t.numpy()[0] for t in made(tf.constant(bumped), h)]
        changed = {j for a, b in zip(base, out) for j in np.flatnonzero(np.abs(a - b) > 1e-6)}
        assert changed == set(order[position + 1:])  # exactly the outputs after i in the order
    assert all(np.any(np.abs(a - b) > 1e-6) for a, b in zip(base, made(z, h + 1.0)))  # all read h


def test_iaf_jacobian_is_triangular_in_the_step_order():
    flow = _iaf(steps=1)
    h = tf.random.normal((3, 5), seed=1)
    z = tf.random.normal((3, UNITS), seed=2)
    params = flow.params(h)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = flow.forward(z, params)[0]
    jac = tape.batch_jacobian(out, z).numpy()
    np.testing.assert_array_equal(np.triu(jac, 1), 0.0)  # output i reads z_j only for j <= i


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_flow_posterior_density_integrates_to_one(kind):
    # In one dimension, log q(z_T) from sample_and_log_prob is a density: push a fine grid of
    # z_0 through the flow and integrate q(z_T) dz_T along the (monotone) image.
    keras.utils.set_random_seed(0)
    q = flows.FlowPosterior(1, kind, steps=3, hidden=(8,))
    q.build((None, 2))
    for w in q.trainable_weights:
        w.assign(w + tf.random.normal(w.shape, stddev=0.3, seed=9))
    params = q(tf.constant([[0.3, -0.2]]))
    loc, scale, *flow_params = params
    z0 = tf.reshape(tf.linspace(-9.0, 9.0, 20001), (-1, 1, 1)) * scale + loc
    z, log_det = q.flow.forward(z0, flow_params)
    from tfgen import layers

    density = np.exp((layers.normal_log_prob(z0, loc, scale) - log_det).numpy()[:, 0])
    zt = z.numpy()[:, 0, 0]
    assert np.all(np.diff(zt) > 0)
    np.testing.assert_allclose(integrate.trapezoid(density, zt), 1.0, atol=1e-3)
    sample, log_q = q.sample_and_log_prob(params, keras.random.SeedGenerator(1), k=7)
    assert sample.shape == (7, 1, 1) and log_q.shape == (7, 1)


def test_flow_posteriors_refuse_the_path_estimator():
    q = flows.posterior("iaf", 3)
    q.build((None, 4))
    with pytest.raises(ValueError, match="path"):
        q.sample_and_log_prob(q(tf.zeros((2, 4))), keras.random.SeedGenerator(0), 2, "path")
