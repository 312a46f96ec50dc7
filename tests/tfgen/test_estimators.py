"""Every gradient estimator against the exact gradient of its objective.

The exact gradients come from models whose expectations are computed exactly: a linear-Gaussian
model with one latent dimension, where ``E_q[L(log_w_1, log_w_2)]`` is a two-dimensional
Gauss-Hermite sum (exact for polynomials of degree 79), and a sigmoid belief network small
enough to enumerate (2 binary units: 16 pairs of samples). The Monte Carlo side is what a
training step applies, ``model.loss_and_gradients``, averaged over independent batches; the
two must agree within a few standard errors for every parameter.
"""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import linear_gaussian
from tfgen.layers import BernoulliLatent
from zoo.sbn.model import SBN

Z_LIMIT = 4.5  # |mean - exact| / standard error, per parameter (~30 parameters per check)


def flat(gradients, variables, keep):
    return np.concatenate([np.zeros(v.shape).ravel() if g is None else np.asarray(g).ravel()
                           for g, v in zip(gradients, variables) if keep(v)])


def is_model_variable(v):
    return "baseline" not in v.path


def monte_carlo(model, x, repeats, calls):
    """``(mean, standard error)`` of the gradient a step applies, over ``calls`` batches of
    ``x`` repeated ``repeats`` times (flattened over the model's own variables)."""
    step = tf.function(model.loss_and_gradients)
    batch = tf.tile(x, [repeats, 1])
    draws = np.array([flat(step(batch)[1], model.trainable_variables, is_model_variable)
                      for _ in range(calls)])
    return draws.mean(axis=0), draws.std(axis=0, ddof=1) / np.sqrt(calls), draws


def exact_gradient(model, loss_fn):
    """The gradient of ``loss_fn()`` (an exact expectation) over the model's own variables."""
    variables = [v for v in model.trainable_variables if is_model_variable(v)]
    with tf.GradientTape() as tape:
        loss = loss_fn()
    return flat(tape.gradient(loss, variables), variables, lambda v: True)


def pairs(log_w, bound):
    """``bound`` of every ordered pair of rows of ``log_w [n, batch]``: ``[n, n, batch]``."""
    n = tf.shape(log_w)[0]
    first = tf.broadcast_to(log_w[:, None], [n, n, tf.shape(log_w)[1]])
    second = tf.broadcast_to(log_w[None], [n, n, tf.shape(log_w)[1]])
    stacked = tf.reshape(tf.stack([first, second]), [2, -1])
    return tf.reshape(bound(stacked), tf.shape(first))


def assert_unbiased(mean, se, exact):
    z = np.abs(mean - exact) / np.maximum(se, 1e-7)
    assert np.max(z) < Z_LIMIT, f"worst parameter {np.argmax(z)}: {mean[np.argmax(z)]} vs exact " \
                                f"{exact[np.argmax(z)]} ({np.max(z):.1f} standard errors)"
    assert np.max(np.abs(exact)) > 20 * np.median(se)  # the check has power: gradients well above noise


# --- reparameterised latents: a one-dimensional linear-Gaussian model ---------------------------------
def gaussian_model(bound, estimator, alpha=None):
    model, x = linear_gaussian.make(seed=1, data_dim=3, latent_dim=1, n=4, k=2, bound=bound,
                                    estimator=estimator, alpha=alpha)
    model.set_posterior(scale_factor=1.4, shift=0.5)  # q is not the posterior: gradients are non-zero
    return model, x


def gaussian_exact(model, x, bound):
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    eps = tf.constant(nodes[:, None, None], "float32")  # [40, 1, latent]
    weights = tf.constant(weights / np.sqrt(2 * np.pi), "float32")

    def loss():
        expected = tf.einsum("i,j,ijb->b", weights, weights, pairs(model.log_weights_at(x, eps), bound))
        return -tf.reduce_mean(expected)

    return exact_gradient(model, loss)


@pytest.mark.parametrize("bound,estimator,alpha", [
    ("iwae", "total", None), ("renyi", "total", 0.5), ("elbo", "path", None), ("iwae", "dreg", None),
    ("renyi", "dreg", 0.5), ("renyi", "dreg", -1.0), ("elbo", "dreg", None),
])
def test_reparameterised_estimators_are_unbiased(bound, estimator, alpha):
    model, x = gaussian_model(bound, estimator, alpha)
    exact = gaussian_exact(model, x, model.bound)
    mean, se, _ = monte_carlo(model, x, repeats=500, calls=30)
    assert_unbiased(mean, se, exact)


def test_a_score_function_estimator_is_unbiased_on_gaussian_latents():
    """VIMCO on the reparameterisable model: the samples are stopped, the encoder's gradient
    comes from the score term alone, and it still matches the quadrature gradient."""
    model, x = gaussian_model("iwae", "vimco")
    exact = gaussian_exact(model, x, model.bound)
    mean, se, _ = monte_carlo(model, x, repeats=500, calls=30)
    assert_unbiased(mean, se, exact)


def test_the_path_derivative_is_biased_for_iwae():
    """Sticking the landing drops a score term with non-zero mean under IWAE_k (Tucker et al. 2019):
    the same check that passes above fails here, so it can fail."""
    model, x = gaussian_model("iwae", "path")
    exact = gaussian_exact(model, x, model.bound)
    mean, se, _ = monte_carlo(model, x, repeats=500, calls=30)
    assert np.max(np.abs(mean - exact) / se) > 10


@pytest.mark.parametrize("estimator", ["path", "dreg"])
def test_path_and_dreg_encoder_gradients_vanish_at_the_exact_posterior(estimator):
    model, x = linear_gaussian.make(seed=2, n=16, k=3, bound="iwae", estimator=estimator)
    model.set_posterior()
    encoder = [i for i, v in enumerate(model.trainable_variables) if "q_z" in v.path]
    step = tf.function(model.loss_and_gradients)
    for _ in range(5):
        gradients = step(x)[1]
        assert max(float(tf.reduce_max(tf.abs(gradients[i]))) for i in encoder) < 1e-4
        decoder = [g for i, g in enumerate(gradients) if i not in encoder]
        assert max(float(tf.reduce_max(tf.abs(g))) for g in decoder) > 1e-2
    total, _ = linear_gaussian.make(seed=2, n=16, k=3, bound="iwae", estimator="total")
    total.set_posterior()
    gradients = total.loss_and_gradients(x)[1]
    assert max(float(tf.reduce_max(tf.abs(gradients[i]))) for i in encoder) > 1e-2


# --- binary latents: a sigmoid belief network small enough to enumerate -------------------------------
def sbn(estimator, objective="iwae", k=2, **fields):
    keras.utils.set_random_seed(3)
    model = SBN(image_shape=(3, 1, 1), latent=(2,), k=k, objective=objective, estimator=estimator, seed=3,
                **fields)
    model.build()
    model.prior_logits.assign([0.8, -0.5])
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    return model


def sbn_exact(model, x, bound):
    states = tf.constant(list(itertools.product([0.0, 1.0], repeat=2)))[:, None, :]  # [4, 1, 2]

    def loss():
        (logits,) = model.posteriors[0](model.encode(x))
        log_q = BernoulliLatent.log_prob(states, logits[None])  # [4, batch]
        h = tf.broadcast_to(states, [4, x.shape[0], 2])
        log_w = model.log_likelihood(x, h) + BernoulliLatent.log_prob(states, model.prior_logits) - log_q
        q = tf.exp(log_q)
        if model.k == 1:
            return -tf.reduce_mean(tf.reduce_sum(q * log_w, axis=0))
        return -tf.reduce_mean(tf.einsum("ib,jb,ijb->b", q, q, pairs(log_w, bound)))

    return exact_gradient(model, loss)


BINARY_X = tf.constant([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]], "float32")


@pytest.mark.parametrize("estimator,objective", [
    ("reinforce", "iwae"), ("reinforce_ma", "iwae"), ("nvil", "iwae"), ("vimco", "iwae"), ("nvil", "elbo"),
])
def test_score_function_estimators_match_the_enumerated_gradient(estimator, objective):
    model = sbn(estimator, objective)
    exact = sbn_exact(model, BINARY_X, model.bound)
    monte_carlo(model, BINARY_X, repeats=200, calls=5)  # baselines' moving averages settle
    mean, se, _ = monte_carlo(model, BINARY_X, repeats=1000, calls=40)
    assert_unbiased(mean, se, exact)


def test_the_taylor_baseline_is_unbiased_when_the_signal_is_quadratic_in_each_unit():
    """Gregor et al. (2014, eq. 22): exact for quadratic f. With a linear-Gaussian likelihood,
    log p(x | h) is quadratic in h and log p(h), log q(h | x) are linear, so the ELBO's f is."""
    model = sbn("taylor", "elbo", k=1, likelihood="gaussian_fixed", likelihood_scale=0.7)
    x = tf.constant([[0.9, -0.2, 0.4], [0.1, 0.5, 1.2], [-0.3, 0.8, 0.0], [1.1, 0.2, -0.6]], "float32")
    exact = sbn_exact(model, x, model.bound)
    mean, se, _ = monte_carlo(model, x, repeats=1000, calls=40)
    assert_unbiased(mean, se, exact)


def test_vimco_and_nvil_lower_the_score_function_variance_of_the_encoder():
    variances = {}
    for estimator in ("reinforce", "nvil", "vimco"):
        model = sbn(estimator)
        variables = [v for v in model.trainable_variables if is_model_variable(v)]
        encoder = np.concatenate([np.full(int(np.prod(v.shape)), "q_h" in v.path) for v in variables])
        monte_carlo(model, BINARY_X, repeats=200, calls=5)
        _, _, draws = monte_carlo(model, BINARY_X, repeats=10, calls=100)
        variances[estimator] = draws[:, encoder].var(axis=0).sum()
    assert variances["vimco"] < 0.5 * variances["reinforce"]
    assert variances["nvil"] < 0.5 * variances["reinforce"]
