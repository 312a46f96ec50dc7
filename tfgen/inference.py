"""Memoryless against amortised inference: the amortisation gap.

A VAE's encoder *amortises* inference: one network gives ``q_phi(z | x)`` for every ``x``.
*Memoryless* inference (variational EM's E-step) instead fits free parameters
``q_n(z) = N(m_n, diag(s_n^2))`` to each data point, maximising its own ELBO under the fixed
decoder:

    ELBO(x_n; q) = E_q [ log p(x_n | z) + log p(z) - log q(z) ]
    q_n^*        = argmax_{m_n, s_n} ELBO(x_n; q_n)        (Adam on (m_n, log s_n), started at
                                                           the encoder's output)

The *amortisation gap* is ``ELBO(x; q_n^*) - ELBO(x; q_phi(. | x)) >= 0`` (up to how well the
optimiser converges): the nats lost by sharing one encoder; the *approximation gap* is
``log p(x) - ELBO(x; q_n^*)``, what the Gaussian family itself costs (Cremer, Li & Duvenaud,
"Inference Suboptimality in Variational Autoencoders", ICML 2018, eq. 4; the tutorial's
"Memoryless and amortised inference": Mohamed, "Building Machines that Imagine and Reason").

Models: one Gaussian latent layer under a ``N(0, I)`` prior, with ``encode(x) -> (loc, scale)``
of ``q_phi(z | x)`` and ``log_likelihood(x, z) -> log p(x | z)`` (every one-layer
:class:`tfgen.image_model.ImageModel` with an encoder head, e.g. the zoo's VAE / IWAE presets).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfgen import layers, optimizers


@dataclasses.dataclass
class AmortisationGap:
    """Per-example ELBOs ``[n]`` (nats) of the encoder's ``q`` and of the per-datapoint optimum.

    ``gap`` is their mean difference and ``gap_stderr`` its standard error over examples (the
    two ELBOs are estimated with the same noise, so most Monte Carlo error cancels).
    """

    elbo_amortised: np.ndarray
    elbo_memoryless: np.ndarray

    @property
    def gap(self):
        return float(np.mean(self.elbo_memoryless - self.elbo_amortised))

    @property
    def gap_stderr(self):
        diff = self.elbo_memoryless - self.elbo_amortised
        return float(np.std(diff) / np.sqrt(len(diff)))

    def summary(self):
        return {
            "elbo_amortised": float(np.mean(self.elbo_amortised)),
            "elbo_memoryless": float(np.mean(self.elbo_memoryless)),
            "amortisation_gap": self.gap,
            "amortisation_gap_stderr": self.gap_stderr,
        }


def check_model(model):
    """Raise ``ValueError`` unless ``model`` has one Gaussian latent layer, ``encode`` and
    ``log_likelihood``."""
    missing = [name for name in ("encode", "log_likelihood") if not hasattr(model, name)]
    if missing or len(getattr(model, "latent_names", ())) != 1:
        raise ValueError(
            f"Memoryless inference needs a model with one Gaussian latent layer under a N(0, I) "
            f"prior, encode(x) and log_likelihood(x, z); {type(model).__name__} has "
            f"{len(getattr(model, 'latent_names', ()))} latent layers"
            + (f" and no {', '.join(missing)}." if missing else ".")
        )


def elbo(model, x, loc, scale, samples=100, seed=0):
    """Monte Carlo ``ELBO(x_n; N(loc_n, diag(scale_n^2)))`` per example, ``[n]`` (nats), with
    ``samples`` draws per example from the seed ``seed`` (the same draws for the same shapes)."""
    x, loc, scale = (tf.convert_to_tensor(t, "float32") for t in (x, loc, scale))
    eps = tf.random.stateless_normal(tf.concat([[samples], tf.shape(loc)], 0), seed=[seed, 0])
    z = loc + scale * eps
    log_w = (
        model.log_likelihood(model.flat(x) if hasattr(model, "flat") else x, z)
        + layers.standard_normal_log_prob(z)
        - layers.normal_log_prob(z, loc, scale)
    )
    return tf.reduce_mean(log_w, axis=0).numpy().astype("float64")


def fit_posteriors(model, x, steps=500, learning_rate=1e-2, samples=1, seed=0, verbose=1):
    """Memoryless inference: per-example ``(loc [n, d], scale [n, d])`` maximising each ELBO.

    Starts at the encoder's ``q_phi(z | x_n)`` and takes ``steps`` Adam steps on
    ``(loc, log scale)`` with ``samples`` reparameterised draws per step and the path-derivative
    gradient (:mod:`tfgen.objectives`' ``"path"``: zero variance at the optimum when the
    posterior is in the family, so the iterates settle instead of jittering); the model's weights
    are not touched. Every example's parameters see only its own ELBO, so the result does not
    depend on how the data are batched.

    Raises ``ValueError`` for a model :func:`check_model` refuses, or ``steps < 1``.
    """
    check_model(model)
    if steps < 1 or samples < 1:
        raise ValueError(f"steps and samples must be >= 1, got {steps} and {samples}.")
    x = tf.convert_to_tensor(x, "float32")
    flat = model.flat(x) if hasattr(model, "flat") else x
    loc, scale = model.encode(x)
    loc, log_scale = tf.Variable(loc), tf.Variable(tf.math.log(scale))
    optimizer = optimizers.Adam(learning_rate)
    optimizer.build([loc, log_scale])

    @tf.function
    def step(i):
        with tf.GradientTape() as tape:
            scale = tf.exp(log_scale)
            eps = tf.random.stateless_normal(
                tf.concat([[samples], tf.shape(loc)], 0), seed=tf.stack([seed + 1, i])
            )
            z = loc + scale * eps
            # The path derivative (Roeder, Wu & Duvenaud 2017): q's parameters held constant inside
            # log q, so the gradient vanishes for every draw once q is the posterior.
            log_q = layers.normal_log_prob(z, tf.stop_gradient(loc), tf.stop_gradient(scale))
            log_w = model.log_likelihood(flat, z) + layers.standard_normal_log_prob(z) - log_q
            loss = -tf.reduce_sum(tf.reduce_mean(log_w, axis=0))  # a sum: each example's own gradient
        optimizer.apply(tape.gradient(loss, [loc, log_scale]), [loc, log_scale])
        return -loss / tf.cast(tf.shape(loc)[0], loss.dtype)

    progress = keras.utils.Progbar(steps, verbose=verbose, stateful_metrics=["elbo"])
    for i in range(steps):
        value = step(tf.constant(i, "int32"))
        if verbose and (i % 10 == 9 or i == steps - 1):
            progress.update(i + 1, [("elbo", float(value))])
    return loc.numpy(), tf.exp(log_scale).numpy()


def amortisation_gap(model, x, steps=500, learning_rate=1e-2, samples=100, batch_size=500, seed=0, verbose=1):
    """:class:`AmortisationGap` of ``model`` on images ``x`` (``[n, ...]``).

    The encoder's ``q_phi(z | x_n)`` and the per-example optimum of :func:`fit_posteriors`
    (``steps`` Adam steps, ``batch_size`` examples at a time) are each scored by
    :func:`elbo` with ``samples`` common draws per example.
    """
    check_model(model)
    x = np.asarray(x, "float32")
    amortised, memoryless = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        loc, scale = (t.numpy() for t in model.encode(tf.constant(batch)))
        amortised.append(elbo(model, batch, loc, scale, samples, seed))
        loc, scale = fit_posteriors(model, batch, steps, learning_rate, seed=seed, verbose=verbose)
        memoryless.append(elbo(model, batch, loc, scale, samples, seed))
    return AmortisationGap(np.concatenate(amortised), np.concatenate(memoryless))
