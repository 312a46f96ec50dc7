"""Bounds and estimators against a model whose log p(x) and posterior are exact."""
import numpy as np
import pytest
import tensorflow as tf

from tests import linear_gaussian
from tfgen import objectives


def mean_bound(model, x, bound, k, seed=1):
    return float(tf.reduce_mean(bound(model.log_weights(x, k, seed=seed).log_w)))


def test_bounds_are_ordered_and_iwae_tightens_with_k():
    model, x = linear_gaussian.make()
    model.set_posterior(scale_factor=1.6, shift=0.4)  # a deliberately imperfect q
    exact = float(np.mean(model.exact_log_likelihood(x.numpy())))
    elbo = mean_bound(model, x, objectives.elbo, 50)
    iwae = {k: mean_bound(model, x, objectives.iwae, k) for k in (5, 50, 500, 5000)}
    assert elbo < iwae[5] < iwae[50] < iwae[500] < iwae[5000] <= exact + 1e-3
    assert exact - elbo > 0.3  # the gap is real ...
    assert exact - iwae[5000] < 0.02  # ... and IWAE_k closes it


def test_bounds_are_exact_when_q_is_the_posterior():
    model, x = linear_gaussian.make()
    model.set_posterior()
    log_w = model.log_weights(x, 7, seed=3).log_w.numpy()
    exact = model.exact_log_likelihood(x.numpy())
    # log p(x, z) - log p(z | x) = log p(x) for every z: all weights equal log p(x).
    np.testing.assert_allclose(log_w, np.broadcast_to(exact, log_w.shape), atol=2e-4)
    np.testing.assert_allclose(objectives.elbo(log_w), exact, atol=2e-4)
    np.testing.assert_allclose(objectives.iwae(log_w), exact, atol=2e-4)


def per_sample_gradients(model, x, estimator):
    """d log_w[i] / d(variational parameters) for every sample i: [k * batch, n_params]."""
    with tf.GradientTape(persistent=True) as tape:
        log_w = tf.reshape(model.log_weights(x, 3, estimator=estimator, seed=5).log_w, [-1])
    jacobians = tape.jacobian(log_w, model.encoder.trainable_variables)
    return np.concatenate([j.numpy().reshape(len(log_w), -1) for j in jacobians], axis=1)


def test_path_derivative_vanishes_at_the_posterior_for_every_sample():
    model, x = linear_gaussian.make(n=8)
    model.set_posterior()
    path = per_sample_gradients(model, x, "path")
    total = per_sample_gradients(model, x, "total")
    assert np.max(np.abs(path)) < 1e-3
    # The total derivative keeps the score term -d log q / d phi: zero mean, not zero.
    assert np.min(np.max(np.abs(total), axis=1)) > 1e-2


def test_estimators_agree_on_values_and_differ_only_in_gradients():
    model, x = linear_gaussian.make(n=16)
    model.set_posterior(scale_factor=1.3)
    a = model.log_weights(x, 4, estimator="total", seed=2).log_w
    b = model.log_weights(x, 4, estimator="path", seed=2).log_w
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_iwae_is_log_mean_exp():
    log_w = tf.constant([[0.0, -1.0], [np.log(3.0), -1.0]])
    np.testing.assert_allclose(objectives.iwae(log_w), [np.log(2.0), -1.0], rtol=1e-6)
    np.testing.assert_allclose(objectives.elbo(log_w), [np.log(3.0) / 2, -1.0], rtol=1e-6)


@pytest.mark.parametrize("k", [0, -3, 2.5, True, "5"])
def test_bad_k_is_refused(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        objectives.check_k(k)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="Unknown objective 'rws'"):
        objectives.get_bound("rws")
    with pytest.raises(ValueError, match="Renyi bound needs alpha"):
        objectives.get_bound("renyi")
    with pytest.raises(ValueError, match="alpha < inf"):
        objectives.get_bound("renyi", alpha=float("nan"))
    with pytest.raises(ValueError, match="Unknown gradient estimator 'rebar'"):
        objectives.check_estimator("rebar")
    for name in ("renyi", "iwae", "elbo"):
        assert callable(objectives.get_bound(name, alpha=0.3))
    for name in ("dreg", "reinforce", "vimco", "taylor"):
        assert objectives.check_estimator(name) == name


LOG_W = tf.constant(np.random.default_rng(0).normal(-90.0, 1.5, (6, 9)), "float32")


def test_renyi_limits_hold_to_1e5():
    elbo, iwae, top = objectives.elbo(LOG_W), objectives.iwae(LOG_W), tf.reduce_max(LOG_W, axis=0)
    np.testing.assert_allclose(objectives.renyi(LOG_W, 0.0), iwae, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(objectives.renyi(LOG_W, 1.0), elbo)
    np.testing.assert_array_equal(objectives.renyi(LOG_W, -np.inf), top)
    for alpha in (1.0 - 1e-6, 1.0 + 1e-6):  # continuous at 1: no cancellation in float32 inputs
        np.testing.assert_allclose(objectives.renyi(LOG_W, alpha), elbo, atol=1e-5, rtol=0)
    np.testing.assert_allclose(objectives.renyi(LOG_W, -1e7), top, atol=1e-5, rtol=0)
    # Away from the limits the gaps are real: the checks above can fail.
    assert np.min(objectives.renyi(LOG_W, 0.99) - elbo) > 1e-4
    assert np.min(top - objectives.renyi(LOG_W, -100.0)) > 1e-4


def test_renyi_is_non_increasing_in_alpha_and_its_gradient_is_the_normalised_weights():
    alphas = [-np.inf, -5.0, -1.0, 0.0, 0.3, 0.7, 1.0, 2.0]
    values = np.stack([objectives.renyi(LOG_W, a).numpy() for a in alphas])
    assert np.all(np.diff(values, axis=0) <= 1e-5)
    for alpha in alphas:
        with tf.GradientTape() as tape:
            tape.watch(LOG_W)
            total = tf.reduce_sum(objectives.renyi(LOG_W, alpha))
        np.testing.assert_allclose(tape.gradient(total, LOG_W), objectives.bound_weights(LOG_W, alpha),
                                   atol=1e-6)
