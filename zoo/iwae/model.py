"""VAE and IWAE of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016).

The VAE and the IWAE share the architecture (:mod:`zoo.iwae.configs`) and differ in the bound
trained: ``objective="vae"`` (the mean of k single-sample ELBOs) or ``objective="iwae"``
(eq. 8). Optimisation (section 5): Adam with beta_2 = 0.999, epsilon = 1e-4, batch size 20.

The model is composed of blocks (:class:`tfgen.image_model.ImageModel`): an encoder network
(Burda et al.'s tanh MLP, or convolutional), a decoder network and a likelihood head
(Bernoulli, or Gaussian for intensities), with the paper's architecture as the default.
"""
from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfgen import flows, layers, optimizers
from tfgen.image_model import ImageModel
from tfgen.model import LatentVariableModel, LogWeights, SeedLike
from zoo.iwae.configs import CONFIGS, IWAEConfig


@keras.saving.register_keras_serializable(package="zoo")
class IWAE(ImageModel, LatentVariableModel):
    """VAE / IWAE with ``layers`` stochastic layers over images.

    Encoder ``q(z_1 | x) q(z_2 | z_1) ...`` (``q(z_1 | x)`` a diagonal Gaussian or a flow posterior,
    ``posterior``); decoder ``p(z_L) ... p(z_1 | z_2) p(x | z_1)``;
    ``log_w = log p(x | z_1) + sum_l log p(z_l | z_{l+1}) - sum_l log q(z_l | z_{l-1})``
    (``[k, batch]``). Keyword arguments are the fields of :class:`zoo.iwae.configs.IWAEConfig`;
    ``IWAE.from_config_name("burda2016_l2", k=50)`` starts from a named configuration.

    Inputs: ``[batch, h*w*c]`` or ``[batch, h, w, c]`` (``config.image_shape``), binary for the
    Bernoulli likelihood, in ``[0, 1]`` for the Gaussian ones. Raises ``ValueError`` for other
    shapes or values, and for bad hyper-parameters at construction.
    """

    config_class = IWAEConfig
    configs = CONFIGS

    def __init__(self, name: str = "iwae", **fields: Any):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        names = [f"z{i + 1}" for i in range(c.layers)]
        super().__init__(names, k=c.k, bound=c.objective, estimator=c.estimator, seed=c.seed, alpha=c.alpha,
                         name=name, **keras_kwargs)
        self.make_blocks(c.hidden[0], tuple(reversed(c.hidden[0])))
        # q(z_1 | x) reads the encoder's features; q(z_l | z_{l-1}) and p(z_l | z_{l+1}) are
        # stochastic MLP layers with the hidden sizes of the layer above.
        self.posteriors = [flows.posterior(c.posterior, c.latent[0], c.flow_steps, c.flow_hidden,
                                           name=f"q_{names[0]}")] + [
            layers.DiagonalGaussian(c.latent[i], c.hidden[i], c.activation, name=f"q_{names[i]}")
            for i in range(1, c.layers)
        ]
        self.priors = [
            layers.DiagonalGaussian(c.latent[i], c.hidden[i + 1], c.activation, name=f"p_{names[i]}")
            for i in range(c.layers - 1)
        ]

    def build(self, input_shape=None):
        c = self.config
        features = self.build_blocks(c.latent[0])
        inputs = (None, features)
        for layer, units in zip(self.posteriors, c.latent):
            layers.build_once(layer, inputs)
            inputs = (None, units)
        for i, layer in enumerate(self.priors):
            layers.build_once(layer, (None, c.latent[i + 1]))
        self.built = True

    def log_weights(self, x: tf.Tensor, k: int, estimator: str = "total", seed: SeedLike = None,
                    training: bool = False) -> LogWeights:
        return self.log_weights_from(x, self.encode(x), k, estimator, seed, training)

    def encode(self, x: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Parameters of ``q(z_1 | x)``: ``(loc, scale)``, ``[batch, latent[0]]`` each, then a flow
        posterior's own (:mod:`tfgen.flows`).

        The part of :meth:`log_weights` that does not depend on the samples, so large-k
        evaluation computes it once per batch (see :func:`tfgen.evaluation.log_likelihood`).
        """
        return self.posteriors[0](self.encoder(self.flat(x)))

    def log_weights_from(self, x: tf.Tensor, encoded: tuple[tf.Tensor, tf.Tensor], k: int,
                         estimator: str = "total", seed: SeedLike = None,
                         training: bool = False) -> LogWeights:
        """:meth:`log_weights` given ``encoded = self.encode(x)``."""
        seed = self.seed_stream(seed)
        x = self.flat(x)
        log_qz, log_pz, zs = {}, {}, []
        for i, (name, q) in enumerate(zip(self.latent_names, self.posteriors)):
            params = encoded if i == 0 else q(zs[-1])
            z, log_qz[name] = q.sample_and_log_prob(params, seed, k if i == 0 else None, estimator)
            zs.append(z)
        log_pz[self.latent_names[-1]] = layers.standard_normal_log_prob(zs[-1])
        for i, p in enumerate(self.priors):
            log_pz[self.latent_names[i]] = p.log_prob(zs[i], *p(zs[i + 1]))
        log_px_z = self.log_likelihood(x, zs[0])
        log_w = log_px_z + tf.add_n(list(log_pz.values())) - tf.add_n(list(log_qz.values()))
        return LogWeights(log_w, log_px_z, log_pz, log_qz)

    def sample(self, num: int, seed: SeedLike = None) -> tf.Tensor:
        """Means ``E[x | z_1]`` (``[num, h*w*c]``) of ``num`` ancestral samples from ``p(z)``."""
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        z = keras.random.normal((num, self.config.latent[-1]), seed=seed)
        for p in reversed(self.priors):
            z = p.sample(*p(z), seed=seed)
        return self.mean_image(z)


def paper_optimizer(learning_rate: float = 1e-3, beta_1: float = 0.9) -> keras.optimizers.Optimizer:
    """Adam as in Burda et al. (2016, sec. 5): beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-4.

    The published code (github.com/yburda/iwae, ``optimizers.py``) uses beta_1 = 0.99.
    """
    return optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=0.999, epsilon=1e-4)
