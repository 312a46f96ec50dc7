"""Distortion-targeted hierarchical VAEs and two-stage training.

Seed 004, "Bits that Matter in Variational Autoencoders" (ICLR 2021 submission):

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

Units and the observation model (the seed leaves them implicit; our choices):

* Data are raw pixels 0..255 ``[batch, h, w, c]``. The encoder sees the clean image
  ``x / 127.5 - 1``; the likelihood sees the dequantised image ``y = (x + u) / 256``,
  ``u ~ U(0, 1)`` (app. B.1), so ``D`` is a sum of squared errors over pixels on the [0, 1]
  scale (per-pixel MSE on the 0..255 scale is ``D * 256^2 / dims``).
* ``p(x | z)`` is Gaussian ``N(y; mu(z), (gamma / dims) I)``: MSE training, and the fixed
  variance an ELBO-maximising scalar variance takes once ``D = gamma``. ``log p(x | z)`` is
  reported on the 0..256 pixel scale (``- dims * log 256``), so the ELBO bounds the log
  probability of the discrete image and ``bits_per_dim = -ELBO / (dims ln 2)``.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from tfgen import blocks
from tfgen.lagrangian import ConstrainedModel, Constraint
from tfgen.model import DataclassConfig, LogWeights

# App. A.1: SVHN 32x32 (two 1x1, four 4x4, ten 8x8, sixteen 16x16, sixteen 32x32 latent
# layers); CelebA adds eight 64x64 layers. Encoder depths: not given in the seed; we use
# VDVAE's CIFAR-10 encoder ("32x11,32d2,16x6,16d2,8x6,8d2,4x3,4d4,1x3") and 4 blocks at 64x64.
PAPER = {
    "svhn": {"image_shape": (32, 32, 3), "resolutions": (1, 4, 8, 16, 32),
             "latent_layers": (2, 4, 10, 16, 16), "encoder_blocks": (3, 4, 7, 7, 12)},
    "celeba": {"image_shape": (64, 64, 3), "resolutions": (1, 4, 8, 16, 32, 64),
               "latent_layers": (2, 4, 10, 16, 16, 8), "encoder_blocks": (3, 4, 7, 7, 12, 4)},
}

# Sized down to train on a share of a CPU core in minutes: one latent layer of 4 channels
# per resolution, width 32, bottleneck 8, one encoder block per resolution above 1x1.
CPU = {
    28: {"resolutions": (1, 7, 14, 28), "latent_layers": (1, 1, 1, 1), "encoder_blocks": (0, 1, 1, 1)},
    32: {"resolutions": (1, 4, 8, 16, 32), "latent_layers": (1, 1, 1, 1, 1),
         "encoder_blocks": (0, 1, 1, 1, 1)},
}
CPU_SIZES = {"width": 32, "bottleneck": 8, "latent_channels": 4}


@dataclasses.dataclass
class DistortionConfig:
    """Hyper-parameters of :class:`TopDownVAE`; defaults are the seed's SVHN model.

    App. A.1: 16 channels per latent layer, 128 hidden channels, 32-channel bottlenecks,
    precision-weighted merging, the latent layout of :data:`PAPER` ``["svhn"]``. App. B.2:
    lambda in ``[1e-4, 0.9999]``, initialised at 0.9999. ``gamma`` is the distortion target
    in our units (see the module docstring); :func:`cpu_config` gives the sized-down model.
    """

    image_shape: tuple = (32, 32, 3)
    resolutions: tuple = (1, 4, 8, 16, 32)
    latent_layers: tuple = (2, 4, 10, 16, 16)
    encoder_blocks: tuple = (3, 4, 7, 7, 12)
    width: int = 128
    bottleneck: int = 32
    latent_channels: int = 16
    merge: bool = True
    gamma: float = 8.0
    lambda_initial: float = 0.9999
    lambda_min: float = 1e-4
    lambda_max: float = 0.9999
    k: int = 1
    estimator: str = "total"
    seed: int = None

    def __post_init__(self):
        self.image_shape = tuple(int(s) for s in self.image_shape)
        if len(self.image_shape) != 3 or self.image_shape[0] != self.image_shape[1]:
            raise ValueError(f"image_shape must be (size, size, channels), got {self.image_shape}.")
        self.resolutions = blocks.check_resolutions(self.resolutions, self.image_shape[0])
        self.latent_layers = tuple(int(n) for n in self.latent_layers)
        self.encoder_blocks = tuple(int(n) for n in self.encoder_blocks)
        if not len(self.latent_layers) == len(self.encoder_blocks) == len(self.resolutions):
            raise ValueError(
                f"latent_layers {self.latent_layers} and encoder_blocks {self.encoder_blocks} need one "
                f"entry per resolution {self.resolutions}."
            )
        if sum(self.latent_layers) < 1:
            raise ValueError("The model needs at least one latent layer.")
        if not self.gamma > 0:
            raise ValueError(f"The distortion target gamma must be positive, got {self.gamma!r}.")

    @property
    def dims(self):
        return self.image_shape[0] * self.image_shape[1] * self.image_shape[2]


def cpu_config(image_shape=(28, 28, 1), **overrides):
    """The sized-down :class:`DistortionConfig` for 28x28 or 32x32 images on a CPU."""
    size = int(image_shape[0])
    if size not in CPU:
        raise ValueError(f"The CPU layout exists for 28x28 and 32x32 images, not {size}x{size}.")
    return DistortionConfig(**{"image_shape": image_shape, **CPU[size], **CPU_SIZES, "merge": True,
                               **overrides})


def paper_config(dataset="svhn", **overrides):
    """The seed's architecture (app. A.1) for ``"svhn"`` or ``"celeba"``."""
    if dataset not in PAPER:
        raise ValueError(f"The paper's architecture exists for {sorted(PAPER)}, not {dataset!r}.")
    return DistortionConfig(**{**PAPER[dataset], **overrides})


def paper_optimizers(learning_rate=2e-4, dual_learning_rate=2e-4, clipnorm=None):
    """App. B.3: Adam (0.9, 0.999) for the model, Adam (0.0, 0.999) for lambda, both at 2e-4.

    Returns ``(optimizer, dual_optimizer)`` for ``compile``. ``clipnorm`` (global gradient
    norm clipping of the model's step) is our addition, off by default.
    """
    return (keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, global_clipnorm=clipnorm),
            keras.optimizers.Adam(dual_learning_rate, beta_1=0.0, beta_2=0.999))


@keras.saving.register_keras_serializable(package="zoo")
class TopDownVAE(DataclassConfig, ConstrainedModel):
    """The distortion-targeted primary VAE (seed 004, sec. 3.2). Keyword arguments are the
    fields of :class:`DistortionConfig`.

    ``log_weights(x, k)`` gives ``log_w = log p(x | z) + sum_t log p(z_t | z_<t) - sum_t
    log q(z_t | z_<t, x)`` (``[k, batch]``) with one part per latent layer, so ``fit`` and
    ``evaluate`` log ``elbo``, ``kl_{layer}``, ``reconstruction`` and, added here, ``rate``
    (the trainable model's ``sum_t kl_t``), ``rate_bits_per_dim``, ``distortion`` and
    ``bits_per_dim``; plus ``lambda_distortion`` / ``violation_distortion``. The loss is
    ``(1 - lambda) R + lambda D`` (eq. 9); ``compile(dual_optimizer=...)`` moves lambda (eq. 10).
    """

    latent_prefix = "z"

    def __init__(self, name="top_down_vae", **config):
        keras_kwargs = {key: config.pop(key) for key in {"trainable", "dtype"} & set(config)}
        self.config = DistortionConfig(**config)
        c = self.config
        own = [f"{self.latent_prefix}{r}x{r}_{i}" for r, n in zip(c.resolutions, c.latent_layers)
               for i in range(n)]
        super().__init__(self._inherited_latents() + own, k=c.k, objective="elbo",
                         estimator=c.estimator, seed=c.seed, name=name, **keras_kwargs)
        self.rate_layers = tuple(own)
        self.set_constraints(
            {"distortion": Constraint(c.gamma, c.lambda_initial, c.lambda_min, c.lambda_max)})
        for metric in ("rate", "rate_bits_per_dim", "distortion", "bits_per_dim"):
            self.trackers[metric] = keras.metrics.Mean(name=metric)
        self.encoder = blocks.BottomUp(c.resolutions, c.encoder_blocks, c.width, c.bottleneck, name="encoder")
        self.groups = [
            blocks.LatentGroup(c.width, c.bottleneck, c.latent_channels, kernel=3 if r > 2 else 1,
                               merge=c.merge, name=f"group_{layer}")
            for layer, r in zip(own, [r for r, n in zip(c.resolutions, c.latent_layers) for _ in range(n)])
        ]
        self.output_head = keras.layers.Conv2D(c.image_shape[-1], 1, name="mean", **self._output_init())
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
        return self.output_head(tf.nn.gelu(h))

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
        """``mu(z)`` ``[n, h, w, c]`` and ``{layer: [n]}`` log p(z), log q(z); ``z ~ q(z | clean)``,
        or ``z ~ p(z)`` when ``clean`` is None."""
        context, log_pz, log_qz = self._context(n, clean, seed, estimator)
        acts = None if clean is None else self.encoder(self._encoder_input(clean, context))
        h, own_pz, own_qz = self._top_down(n, acts, self._conditioning(context), seed, estimator)
        return self._mean(h, context), {**log_pz, **own_pz}, {**log_qz, **own_qz}

    @property
    def variance(self):
        """The observation variance ``gamma / dims`` of ``p(x | z)``."""
        return self.config.gamma / self.config.dims

    def observation_log_prob(self, sse):
        """``log N(y; mu, var I)`` on the 0..256 scale from ``sse = ||y - mu||^2`` on [0, 1]."""
        d = self.config.dims
        log_norm = 0.5 * d * math.log(2 * math.pi * self.variance) + d * math.log(256.0)
        return -0.5 * sse / self.variance - log_norm

    def distortion(self, log_weights):
        """Per-example ``D = E_q ||y - mu(z)||^2``, ``[batch]``: the inverse of
        :meth:`observation_log_prob` applied to ``log p(x | z)``."""
        d = self.config.dims
        log_norm = 0.5 * d * math.log(2 * math.pi * self.variance) + d * math.log(256.0)
        return tf.reduce_mean(-2.0 * self.variance * (log_weights.log_px_z + log_norm), axis=0)

    def _seed(self, seed):
        seed = self.seed_generator if seed is None else seed
        return keras.random.SeedGenerator(seed) if isinstance(seed, int) else seed

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        seed = self._seed(seed)
        x = tf.cast(x, "float32")
        batch, shape = tf.shape(x)[0], self.config.image_shape
        xk = tf.reshape(tf.tile(x[None], [k, 1, 1, 1, 1]), (-1,) + shape)
        target = (xk + keras.random.uniform(tf.shape(xk), seed=seed)) / 256.0  # app. B.1
        mu, log_pz, log_qz = self._run(k * batch, xk / 127.5 - 1.0, seed, estimator)
        sse = tf.reduce_sum(tf.square(target - mu), axis=[1, 2, 3])

        def per_sample(t):
            return tf.reshape(t, [k, batch])

        log_px_z = per_sample(self.observation_log_prob(sse))
        log_pz = {n: per_sample(v) for n, v in log_pz.items()}
        log_qz = {n: per_sample(v) for n, v in log_qz.items()}
        log_w = log_px_z + tf.add_n(list(log_pz.values())) - tf.add_n(list(log_qz.values()))
        return LogWeights(log_w, log_px_z, log_pz, log_qz)

    def constraint_terms(self, x, log_weights):
        return {"distortion": self.distortion(log_weights)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        super().compute_loss(x, y, y_pred, sample_weight, training)  # elbo, kl_{layer}, ...
        lam = self.multipliers()["distortion"]
        rate = tf.add_n([y_pred.kl(layer) for layer in self.rate_layers])
        distortion = self.distortion(y_pred)
        dims_ln2 = self.config.dims * math.log(2.0)
        for name, value in {"rate": rate, "rate_bits_per_dim": rate / dims_ln2, "distortion": distortion,
                            "bits_per_dim": -tf.reduce_mean(y_pred.log_w, axis=0) / dims_ln2}.items():
            self.trackers[name].update_state(value, sample_weight=sample_weight)
        return tf.reduce_mean((1.0 - lam) * rate + lam * distortion)

    def reconstruct(self, x, seed=None):
        """Mean reconstructions ``mu(z)``, ``z ~ q(z | x)``, of pixels ``x`` (0..255), on [0, 1]."""
        x = tf.cast(x, "float32")
        return self._run(tf.shape(x)[0], x / 127.5 - 1.0, self._seed(seed))[0]

    def sample(self, num, mean=True, seed=None):
        """``num`` images on [0, 1]: mean sampling ``mu(z)``, ``z ~ p(z)`` (sec. 3.1), or, with
        ``mean=False``, full sampling ``x ~ N(mu(z), var I)``."""
        seed = self._seed(seed)
        mu = self._run(num, None, seed)[0]
        if mean:
            return mu
        return mu + math.sqrt(self.variance) * keras.random.normal(tf.shape(mu), seed=seed)

    def validate_inputs(self, x):
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
    """Two-stage training's secondary VAE over a frozen :class:`TopDownVAE` (seed 004, sec. 4).

    ``log_w`` is that of the whole two-stage model, ``p(z) p(z' | x_hat) p(x | z', x_hat)``
    with ``x_hat = mu(z)`` and ``q(z | x) q(z' | x, x_hat)``, so ``elbo`` / ``kl`` count both
    stages' rates while ``rate`` (and the loss) is the secondary's alone. The architecture
    copies the primary's unless overridden; ``gamma`` should be below the primary's.
    """

    latent_prefix = "s"

    def __init__(self, primary, name="secondary_vae", **overrides):
        if isinstance(primary, dict):
            primary = keras.saving.deserialize_keras_object(primary)
        self.primary = primary
        config = {**dataclasses.asdict(primary.config), **overrides}
        super().__init__(name=name, **config)
        primary.trainable = False
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
        return x_hat + self.output_head(tf.nn.gelu(h))

    def build(self, input_shape=None):
        if not self.primary.built:
            self.primary.build()
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        return {**config, "primary": keras.saving.serialize_keras_object(self.primary)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

