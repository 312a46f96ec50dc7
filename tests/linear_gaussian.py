"""A linear-Gaussian latent model whose ``log p(x)`` and posterior are exact.

``p(z) = N(0, I_d)``, ``p(x | z) = N(W z + b, s^2 I_D)``, so ``p(x) = N(b, W W^T + s^2 I)``
and ``p(z | x) = N(S W^T (x - b) / s^2, S)`` with ``S = (I + W^T W / s^2)^{-1}``. With
orthogonal columns in ``W``, ``S`` is diagonal and a diagonal-Gaussian ``q`` can equal it.
Built from tfgen's own layers: a linear ``DiagonalGaussian`` encoder and a fixed-variance
``Gaussian`` decoder.
"""
import keras
import numpy as np
import tensorflow as tf
from scipy.stats import multivariate_normal

from tfgen import layers, objectives
from tfgen.model import LatentVariableModel, LogWeights


class LinearGaussian(LatentVariableModel):
    def __init__(self, data_dim=4, latent_dim=2, noise=0.5, **kwargs):
        super().__init__(["z"], **kwargs)
        self.data_dim, self.latent_dim, self.noise = data_dim, latent_dim, noise
        self.encoder = layers.DiagonalGaussian(latent_dim, name="q_z")
        self.likelihood = layers.Gaussian(data_dim, variance="fixed", scale=noise, name="p_x")

    def build(self, input_shape=None):
        self.encoder.build((None, self.data_dim))
        self.likelihood.build((None, self.latent_dim))
        if self.baseline is not None:
            self.baseline.build((None, self.data_dim))
        self.built = True

    def inference_variables(self):
        return self.encoder.trainable_variables

    def log_weights_at(self, x, eps):
        """``log_w`` at the noise ``eps`` (``[..., batch, latent]``), ``z = mu + sigma eps``."""
        loc, scale = self.encoder(x)
        z = loc + scale * eps
        return (self.likelihood.log_prob(x, *self.likelihood(z)) + layers.standard_normal_log_prob(z)
                - self.encoder.log_prob(z, loc, scale))

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        return self.log_weights_from(x, self.encode(x), k, estimator, seed, training)

    def log_weights_from(self, x, params, k, estimator="total", seed=None, training=False):
        """:meth:`log_weights` given ``params = encode(x)`` (as the zoo's image models)."""
        seed = self.seed_generator if seed is None else seed
        z = objectives.samples(self.encoder.sample(*params, seed=seed, k=k), estimator)
        log_q = self.encoder.log_prob(z, *objectives.variational_parameters(params, estimator))
        log_p = layers.standard_normal_log_prob(z)
        log_px_z = self.likelihood.log_prob(x, *self.likelihood(z))
        return LogWeights(log_px_z + log_p - log_q, log_px_z, {"z": log_p}, {"z": log_q})

    def encode(self, x):
        """``(loc, scale)`` of ``q(z | x)``, as the zoo's image models give them."""
        return self.encoder(x)

    def log_likelihood(self, x, z):
        return self.likelihood.log_prob(x, *self.likelihood(z))

    def validate_inputs(self, x):
        if x.shape[-1] != self.data_dim:
            raise ValueError(f"expected {self.data_dim} features, got {x.shape}")

    # --- ground truth -------------------------------------------------------------------
    def set_generative(self, w, b):
        dense = self.likelihood.heads["loc"]
        dense.kernel.assign(w.T.astype("float32"))
        dense.bias.assign(b.astype("float32"))
        self.w, self.b = w, b

    def posterior_covariance(self):
        return np.linalg.inv(np.eye(self.latent_dim) + self.w.T @ self.w / self.noise**2)

    def set_posterior(self, scale_factor=1.0, shift=0.0):
        """q = the exact posterior, its scale times ``scale_factor`` and mean plus ``shift``."""
        cov = self.posterior_covariance()
        assert np.allclose(cov, np.diag(np.diag(cov))), "W needs orthogonal columns"
        gain = self.w @ cov / self.noise**2  # loc = (x - b) @ gain, Dense kernel layout [D, d]
        self.encoder.heads["loc"].kernel.assign(gain.astype("float32"))
        self.encoder.heads["loc"].bias.assign((shift - self.b @ gain).astype("float32"))
        self.encoder.heads["log_scale"].kernel.assign(np.zeros_like(gain, dtype="float32"))
        log_scale = 0.5 * np.log(np.diag(cov)) + np.log(scale_factor)
        self.encoder.heads["log_scale"].bias.assign(log_scale.astype("float32"))

    def posterior_mean(self, x):
        return (np.asarray(x) - self.b) @ self.w @ self.posterior_covariance() / self.noise**2

    def exact_log_likelihood(self, x):
        cov = self.w @ self.w.T + self.noise**2 * np.eye(self.data_dim)
        return multivariate_normal(self.b, cov).logpdf(x)


def make(seed=0, data_dim=4, latent_dim=2, noise=0.5, n=256, **kwargs):
    """A model with random orthogonal-column ``W`` and ``n`` exact samples ``x ~ p(x)``."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))
    w = q * rng.uniform(1.0, 2.0, size=latent_dim)
    b = rng.normal(size=data_dim)
    model = LinearGaussian(data_dim, latent_dim, noise, seed=seed, **kwargs)
    model.build()
    model.set_generative(w, b)
    x = rng.normal(size=(n, latent_dim)) @ w.T + b + noise * rng.normal(size=(n, data_dim))
    keras.utils.set_random_seed(seed)
    return model, tf.constant(x, "float32")
