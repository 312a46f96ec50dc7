"""Distortion-targeted hierarchical VAEs and two-stage training.

"Mind Your Bits and Errors: Prioritizing the Bits that Matter in Variational Autoencoders"
(anonymous ICLR 2021 submission):

* Primary model (sec. 3.2, app. A.1): a VDVAE-style top-down VAE (Child 2021) with
  precision-weighted merging (Sonderby et al. 2016), trained by

      minimise_theta,phi  (1 - lambda) R + lambda D,     maximise_lambda  lambda (D - gamma)     (eq. 9-10)

  with rate ``R = KL(q(z_0:T | x) || p(z_0:T))`` (nats per image, the sum of the per-layer
  ``kl_{layer}``) and distortion ``D = ||x - mu(z_0:T)||^2``, lambda projected onto
  ``[1e-4, 0.9999]`` and started at 0.9999 (app. B.2).
* Secondary model (sec. 4, app. A.2): the primary frozen, ``x_hat = mu(z)`` with ``z ~ q(z | x)``;
  a VAE of the same depth whose encoder sees ``[x, x_hat]``, whose decoder adds features of
  ``x_hat`` at every resolution (U-Net style) and outputs ``x_hat + delta``, trained to a
  smaller ``gamma`` by the same Lagrangian (eq. 5-6).

Units and the observation model (the paper leaves them implicit; our choices):

* Data are raw pixels 0..255 ``[batch, h, w, c]``. The encoder sees the clean image
  ``x / 127.5 - 1``; the likelihood sees the dequantised image ``y = (x + u) / 256``,
  ``u ~ U(0, 1)`` (app. B.1), so the **distortion** ``D`` is the sum over pixels of squared
  errors per image on the [0, 1] scale (per-pixel MSE on the 0..255 scale is
  ``D * 256^2 / dims``). That is the only meaning of the ``distortion`` metric in the zoo.
* ``p(x | z)`` is Gaussian ``N(y; mu(z), (gamma / dims) I)``: MSE training, and the fixed
  variance an ELBO-maximising scalar variance takes once ``D = gamma``. ``log p(x | z)`` is
  reported on the 0..256 pixel scale (``- dims * log 256``), so the ELBO bounds the log
  probability of the discrete image and ``bits_per_dim = -ELBO / (dims ln 2)``.

Optimisation (app. B.3): :func:`paper_optimizers`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfgen import blocks, data_checks, noise, objectives, optimizers
from tfgen.lagrangian import ConstrainedModel, Constraint
from tfgen.layers import gelu
from tfgen.model import LogWeights, SeedLike, log_weights_of
from zoo.distortion.configs import CONFIGS, DistortionConfig

# Metrics this family adds to the base ones (elbo, iwae_k{k}, reconstruction, kl, kl_{layer}).
METRICS = ("rate", "rate_bits_per_dim", "distortion", "bits_per_dim")


def paper_optimizers(learning_rate: float = 2e-4, dual_learning_rate: float = 2e-4,
                     clipnorm: float | None = None,
                     ) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """App. B.3: Adam (0.9, 0.999) for the model, Adam (0.0, 0.999) for lambda, both at 2e-4.

    Returns ``(optimizer, dual_optimizer)`` for ``compile``. ``clipnorm`` (global gradient
    norm clipping of the model's step) is our addition, off by default.
    """
    return (optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, global_clipnorm=clipnorm),
            optimizers.Adam(dual_learning_rate, beta_1=0.0, beta_2=0.999))


@keras.saving.register_keras_serializable(package="zoo")
class TopDownVAE(ConstrainedModel):
    """The distortion-targeted primary VAE (sec. 3.2 of the paper cited in the module docstring).

    Keyword arguments are the fields of :class:`zoo.distortion.configs.DistortionConfig`;
    ``TopDownVAE.from_config_name("cpu28", gamma=10.0)`` starts from a named configuration.
    ``log_weights(x, k)`` gives ``log_w = log p(x | z) + sum_t log p(z_t | z_<t) - sum_t
    log q(z_t | z_<t, x)`` (``[k, batch]``) with one part per latent layer, so ``fit`` and
    ``evaluate`` log ``elbo``, ``kl_{layer}``, ``reconstruction`` and, added here, ``rate``
    (the trainable model's ``sum_t kl_t``, nats), ``rate_bits_per_dim``, ``distortion`` (sum
    of squared errors per image on [0, 1]) and ``bits_per_dim``; plus ``lambda_distortion``
    and ``violation_distortion`` (``D - gamma``). Training minimises ``(1 - lambda) R +
    lambda D`` (eq. 9); ``compile(optimizer, dual_optimizer=...)`` moves lambda (eq. 10).

    Inputs: raw pixels, integers 0..255, ``[batch] + image_shape``. Raises ``ValueError`` for
    other shapes or values, and for bad hyper-parameters at construction.
    """

    config_class = DistortionConfig
    configs = CONFIGS
    latent_prefix = "z"

    def __init__(self, name: str = "top_down_vae", **fields: Any):
        self.config, keras_kwargs = self.configure(fields)
        c = self.config
        own = [f"{self.latent_prefix}{r}x{r}_{i}" for r, n in zip(c.resolutions, c.latent_layers)
               for i in range(n)]
        super().__init__(self._inherited_latents() + own, k=c.k, bound="elbo", estimator=c.estimator,
                         seed=c.seed, name=name, **keras_kwargs)
        self.rate_layers = tuple(own)
        self.set_constraints(
            {"distortion": Constraint(c.gamma, c.lambda_initial, c.lambda_min, c.lambda_max)})
        self.encoder = blocks.BottomUp(c.resolutions, c.encoder_blocks, c.width, c.bottleneck, name="encoder")
        self.groups = [
            blocks.LatentGroup(c.width, c.bottleneck, c.latent_channels, kernel=3 if r > 2 else 1,
                               merge=c.merge, name=f"group_{layer}")
            for layer, r in zip(own, [r for r, n in zip(c.resolutions, c.latent_layers) for _ in range(n)])
        ]
        self.output_head = blocks.Conv2D(c.image_shape[-1], 1, name="mean", **self._output_init())
        # VDVAE's learned input of the top-down path at each resolution.
        self.resolution_bias = [
            self.add_weight(shape=(1, r, r, c.width), initializer="zeros", name=f"bias_{r}x{r}")
            for r in c.resolutions
        ]

    # -- hooks the secondary model overrides -------------------------------------------------
    def _inherited_latents(self):
        return []

    def _output_init(self):
        return {"bias_initializer": keras.initializers.Constant(0.5)}

    def _context(self, n, clean, seed, estimator):
        """``(context, log_pz, log_qz)`` of anything the decoder is conditioned on."""
        return None, {}, {}

    def _encoder_input(self, clean, context):
        return clean

    def _conditioning(self, context):
        """Features ``{resolution: [n, r, r, width]}`` added to the top-down state, or None."""
        return None

    def _mean(self, h, context):
        return self.output_head(gelu(h))

    # -- the model ----------------------------------------------------------------------------
    def build(self, input_shape=None):
        self.log_weights(tf.zeros((1,) + self.config.image_shape), 1, seed=0)
        self.built = True

    def _top_down(self, n, acts, conditioning, seed, estimator):
        c = self.config
        log_pz, log_qz, h, group = {}, {}, None, 0
        for i, (r, layers) in enumerate(zip(c.resolutions, c.latent_layers)):
            if h is None:
                h = tf.tile(self.resolution_bias[i], [n, 1, 1, 1])
            else:
                step = r // c.resolutions[i - 1]
                h = tf.repeat(tf.repeat(h, step, axis=1), step, axis=2) + self.resolution_bias[i]
            if conditioning is not None:
                h = h + conditioning[str(r)]
            for _ in range(layers):
                name = self.rate_layers[group]
                h, _, log_pz[name], log_q = self.groups[group](
                    h, None if acts is None else acts[str(r)], seed=seed, estimator=estimator)
                if log_q is not None:
                    log_qz[name] = log_q
                group += 1
        return h, log_pz, log_qz

    def _run(self, n, clean=None, seed=None, estimator="total"):
        """``mu(z)`` ``[n, h, w, c]`` on [0, 1] and ``{layer: [n]}`` log p(z), log q(z);
        ``z ~ q(z | clean)``, or ``z ~ p(z)`` when ``clean`` is None."""
        context, log_pz, log_qz = self._context(n, clean, seed, estimator)
        acts = None if clean is None else self.encoder(self._encoder_input(clean, context))
        h, own_pz, own_qz = self._top_down(n, acts, self._conditioning(context), seed, estimator)
        return self._mean(h, context), {**log_pz, **own_pz}, {**log_qz, **own_qz}

    @property
    def variance(self) -> float:
        """The observation variance ``gamma / dims`` of ``p(x | z)``, on the [0, 1] scale."""
        return self.config.gamma / self.config.dims

    def _log_norm(self):
        d = self.config.dims
        return 0.5 * d * math.log(2 * math.pi * self.variance) + d * math.log(256.0)

    def observation_log_prob(self, sse: tf.Tensor) -> tf.Tensor:
        """``log N(y; mu, var I)`` on the 0..256 scale (nats) from ``sse = ||y - mu||^2`` on [0, 1]."""
        return -0.5 * sse / self.variance - self._log_norm()

    def distortion(self, log_weights: LogWeights) -> tf.Tensor:
        """Per-example distortion ``D = E_q ||y - mu(z)||^2`` ``[batch]``, the sum over pixels of
        squared errors on [0, 1]: :meth:`observation_log_prob` inverted on ``log p(x | z)``."""
        return tf.reduce_mean(-2.0 * self.variance * (log_weights.log_px_z + self._log_norm()), axis=0)

    def rate(self, log_weights: LogWeights) -> tf.Tensor:
        """Per-example rate ``R = sum_t KL_t`` ``[batch]`` (nats) of this model's own latent layers."""
        return tf.add_n([log_weights.kl(layer) for layer in self.rate_layers])

    def log_weights(self, x: tf.Tensor, k: int, estimator: str = "total", seed: SeedLike = None,
                    training: bool = False) -> LogWeights:
        """Log importance weights ``[k, batch]`` of raw pixels ``x`` ``[batch, h, w, c]`` (0..255);
        one ``U(0, 1)`` dequantisation draw per sample (app. B.1). ``seed``: see :meth:`seed_stream`."""
        seed = self.seed_stream(seed)
        x = tf.cast(x, "float32")
        batch, shape = tf.shape(x)[0], self.config.image_shape
        xk = tf.reshape(tf.tile(x[None], [k, 1, 1, 1, 1]), (-1,) + shape)
        target = (xk + noise.uniform(tf.shape(xk), seed)) / 256.0  # app. B.1
        mu, log_pz, log_qz = self._run(k * batch, xk / 127.5 - 1.0, seed, estimator)
        sse = tf.reduce_sum(tf.square(target - mu), axis=[1, 2, 3])

        def per_sample(t):
            return tf.reshape(t, [k, batch])

        log_px_z = per_sample(self.observation_log_prob(sse))
        log_pz = {n: per_sample(v) for n, v in log_pz.items()}
        log_qz = {n: per_sample(v) for n, v in log_qz.items()}
        log_w = log_px_z + tf.add_n(list(log_pz.values())) - tf.add_n(list(log_qz.values()))
        return LogWeights(log_w, log_px_z, log_pz, log_qz)

    # -- what is maximised and what is logged ------------------------------------------------
    def metric_names(self):
        return super().metric_names() + list(METRICS)

    def objective(self, outputs: LogWeights) -> tf.Tensor:
        """Per-example negative Lagrangian ``-((1 - lambda) R + lambda D)`` ``[batch]`` (eq. 9),
        lambda held fixed (the dual step moves it)."""
        lw = log_weights_of(outputs)
        lam = self.multipliers()["distortion"]
        return -((1.0 - lam) * self.rate(lw) + lam * self.distortion(lw))

    def track(self, outputs: LogWeights) -> dict[str, tf.Tensor]:
        lw = log_weights_of(outputs)
        rate, dims_ln2 = self.rate(lw), self.config.dims * math.log(2.0)
        return {**super().track(outputs), "rate": rate, "rate_bits_per_dim": rate / dims_ln2,
                "distortion": self.distortion(lw), "bits_per_dim": -objectives.elbo(lw.log_w) / dims_ln2}

    def constraint_terms(self, outputs: LogWeights) -> dict[str, tf.Tensor]:
        return {"distortion": self.distortion(log_weights_of(outputs))}

    # -- reconstructions and samples ---------------------------------------------------------
    def reconstruct(self, x: tf.Tensor, seed: SeedLike = None) -> tf.Tensor:
        """Mean reconstructions ``mu(z)``, ``z ~ q(z | x)``, of pixels ``x`` (0..255), on [0, 1]."""
        x = tf.cast(x, "float32")
        return self._run(tf.shape(x)[0], x / 127.5 - 1.0, self.seed_stream(seed))[0]

    def sample(self, num: int, mean: bool = True, seed: SeedLike = None) -> tf.Tensor:
        """``num`` images ``[num, h, w, c]`` on [0, 1]: mean sampling ``mu(z)``, ``z ~ p(z)``
        (sec. 3.1), or, with ``mean=False``, full sampling ``x ~ N(mu(z), var I)``."""
        seed = self.seed_stream(seed)
        mu = self._run(num, None, seed)[0]
        if mean:
            return mu
        return mu + math.sqrt(self.variance) * keras.random.normal(tf.shape(mu), seed=seed)

    def batch_conditions(self, x):
        """Pixels integers in 0..255 (traced, every batch)."""
        pixels = tf.cast(x, "float32")
        ok = tf.reduce_all((pixels >= 0.0) & (pixels <= 255.0) & tf.equal(pixels, tf.round(pixels)))
        return [(ok, "a batch holds pixels that are not integers in 0..255 (NaN, scaled or out of range); "
                     "pass raw uint8 images, the model dequantises them itself")]

    def validate_inputs(self, x: np.ndarray) -> None:
        if isinstance(x, dict):
            raise ValueError(data_checks.tfds_hint(sorted(x)))
        shape = self.config.image_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"{type(self).__name__} expects images (batch,) + {shape}, got {x.shape}.")
        if x.size and (x.min() < 0 or x.max() > 255 or not (x == x.astype("int64")).all()):
            raise ValueError(
                "Pixels must be integers in 0..255 (the model dequantises them itself); got values in "
                f"[{x.min()}, {x.max()}]. Pass raw uint8 images, not images scaled to [0, 1]."
            )


@keras.saving.register_keras_serializable(package="zoo")
class SecondaryVAE(TopDownVAE):
    """Two-stage training's secondary VAE over a frozen :class:`TopDownVAE` (the paper's sec. 4).

    ``log_w`` is that of the whole two-stage model, ``p(z) p(z' | x_hat) p(x | z', x_hat)``
    with ``x_hat = mu(z)`` and ``q(z | x) q(z' | x, x_hat)``, so ``elbo`` / ``kl`` count both
    stages' rates while ``rate`` (and the loss) is the secondary's alone. The architecture
    copies the primary's unless overridden; ``gamma`` should be below the primary's.

    Args:
        primary: the trained :class:`TopDownVAE` (or its Keras serialisation); it is frozen
            (``trainable = False``) and saved inside this model.
        **overrides: fields of :class:`~zoo.distortion.configs.DistortionConfig` (``gamma``, ``seed``, ...).
    """

    latent_prefix = "s"

    def __init__(self, primary: TopDownVAE | dict, name: str = "secondary_vae", **overrides: Any):
        if isinstance(primary, dict):
            primary = keras.saving.deserialize_keras_object(primary)
        if not primary.built:
            primary.build()
        primary.trainable = False
        for variable in primary.weights:  # Keras propagates only a *change* of trainable to sublayers,
            variable.trainable = False  # so a primary deserialised as frozen would still train
        self.primary = primary
        super().__init__(name=name, **{**dataclasses.asdict(primary.config), **overrides})
        c = self.config
        if c.image_shape != primary.config.image_shape:
            raise ValueError(f"The secondary models the primary's images {primary.config.image_shape}, "
                             f"not {c.image_shape}.")
        self.conditioner = blocks.BottomUp(c.resolutions, c.encoder_blocks, c.width, c.bottleneck,
                                           name="conditioner")

    def _inherited_latents(self):
        return list(self.primary.latent_names)

    def _output_init(self):
        return {"kernel_initializer": "zeros"}  # starts at mu = x_hat, distortion = the primary's

    def _context(self, n, clean, seed, estimator):
        x_hat, log_pz, log_qz = self.primary._run(n, clean, seed)
        return tf.stop_gradient(x_hat), log_pz, log_qz

    def _encoder_input(self, clean, x_hat):
        return tf.concat([clean, 2.0 * x_hat - 1.0], axis=-1)

    def _conditioning(self, x_hat):
        return self.conditioner(2.0 * x_hat - 1.0)

    def _mean(self, h, x_hat):
        return x_hat + self.output_head(gelu(h))

    def get_config(self):
        primary = keras.saving.serialize_keras_object(self.primary)
        primary.pop("compile_config", None)  # the frozen primary is never compiled when loaded
        return {**super().get_config(), "primary": primary}
