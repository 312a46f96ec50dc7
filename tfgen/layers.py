"""Keras 3 blocks of latent-variable models: networks, latent heads and likelihood heads.

* Networks map inputs to features: :class:`MLP` (dense stack), :class:`ConvEncoder` (images
  to a feature vector) and :class:`ConvDecoder` (a vector to feature maps).
* Heads map features ``h`` to the parameters of a distribution over ``[..., units]`` and
  build the matching ``tfp.distributions`` object from those tensors (TFP as math only: no
  ``tfp.layers``): the latents :class:`DiagonalGaussian` and :class:`BernoulliLatent` (binary
  units, with the Concrete relaxation), the likelihoods
  :class:`BernoulliLogits` and :class:`Gaussian`. Event shape is ``[units]``; sample
  dimensions come first, ``[k, batch, units]``, as in TFP. A likelihood head built on
  feature *maps* ``[n, height, width, c]`` projects each pixel's features (a 1x1
  convolution) and flattens the result to ``units = height * width * channels``.

:func:`network` and :func:`likelihood` build them by name (``"mlp"``, ``"conv"``;
``"bernoulli"``, ``"gaussian"``, ``"gaussian_fixed"``), which is how zoo configs compose them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfgen import backend, config, noise, objectives  # noqa: F401  (backend: checks the Keras backend)

tfd = tfp.distributions


def _serializable(cls):
    return keras.saving.register_keras_serializable(package="tfgen")(cls)


def build_once(layer: keras.layers.Layer, input_shape: tuple) -> None:
    """``layer.build(input_shape)`` unless a call has built it already (building twice would
    create its weights again)."""
    if not layer.built:
        layer.build(input_shape)


def on_rows(fn: Callable, h: tf.Tensor, event_rank: int = 1) -> tf.Tensor | tuple[tf.Tensor, ...]:
    """``fn`` applied to ``h [..., *event]`` reshaped to rows ``[n, *event]``; outputs reshaped back.

    Dense layers on ``[k, batch, d]`` inputs become one 2-D matmul each, which TensorFlow fuses
    with the bias and activation (a batched matmul is not fused); convolutions
    (``event_rank=3``) need exactly one batch axis. ``fn`` returns a tensor or a tuple of
    tensors ``[n, ...]``; an ``h`` with one leading axis is passed through unchanged.
    """
    if len(h.shape) <= event_rank + 1:
        return fn(h)
    leading = tf.shape(h)[:-event_rank]
    out = fn(tf.reshape(h, [-1, *h.shape[-event_rank:]]))

    def unflatten(t):
        return tf.reshape(t, tf.concat([leading, tf.shape(t)[1:]], 0))

    return tuple(unflatten(t) for t in out) if isinstance(out, tuple) else unflatten(out)


@_serializable
class MLP(keras.layers.Layer):
    """A stack of dense layers ``h_i = activation(W_i h_{i-1} + b_i)``, Glorot-uniform weights.

    With ``batch_norm`` each layer is ``activation(BN(W_i h_{i-1}))`` (Ioffe & Szegedy 2015;
    the statistics are over every row, samples and examples, in training, the moving
    averages otherwise).
    """

    def __init__(self, units: Sequence[int] = (200, 200), activation: str = "tanh", batch_norm: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        self.activation, self.batch_norm = activation, bool(batch_norm)
        self.dense = [
            keras.layers.Dense(u, activation=None if self.batch_norm else activation,
                               use_bias=not self.batch_norm, name=f"dense_{i}")
            for i, u in enumerate(self.units)
        ]
        self.norms = [keras.layers.BatchNormalization(name=f"batch_norm_{i}") for i in range(len(self.units))
                      ] if self.batch_norm else []

    def build(self, input_shape):
        shape = tuple(input_shape)
        for i, layer in enumerate(self.dense):
            layer.build(shape)
            shape = shape[:-1] + (layer.units,)
            if self.batch_norm:
                self.norms[i].build(shape)

    def call(self, x, training=None):
        def stack(h):
            for i, layer in enumerate(self.dense):
                h = layer(h)
                if self.batch_norm:
                    h = keras.activations.get(self.activation)(self.norms[i](h, training=training))
            return h

        return on_rows(stack, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units[-1] if self.units else input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "batch_norm": self.batch_norm}


@_serializable
class ConvEncoder(keras.layers.Layer):
    """Images to a feature vector: strided convolutions, then a dense layer.

    ``x`` (flat ``[n, h*w*c]``) -> ``len(filters)`` 3x3 convolutions of
    stride 2 with ``activation`` -> flatten -> ``Dense(units)`` with ``activation``:
    ``[n, units]``. Leading sample axes (``[k, n, ...]``) are folded into the batch.
    """

    def __init__(self, image_shape: Sequence[int], filters: Sequence[int] = (32, 64), units: int = 256,
                 activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.filters, self.units, self.activation = tuple(int(f) for f in filters), int(units), activation
        self.convs = [keras.layers.Conv2D(f, 3, strides=2, padding="same", activation=activation,
                                          name=f"conv_{i}") for i, f in enumerate(self.filters)]
        self.dense = keras.layers.Dense(self.units, activation=activation, name="dense")

    def build(self, input_shape=None):
        shape = (None,) + self.image_shape
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.dense.build((None, int(np.prod(shape[1:]))))

    def call(self, x):
        def encode(images):
            h = images
            for conv in self.convs:
                h = conv(h)
            return self.dense(tf.reshape(h, [tf.shape(h)[0], -1]))

        return on_rows(lambda rows: encode(tf.reshape(rows, (-1,) + self.image_shape)), x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "filters": self.filters,
                "units": self.units, "activation": self.activation}


@_serializable
class ConvDecoder(keras.layers.Layer):
    """A vector to feature maps: the mirror of :class:`ConvEncoder`.

    ``z [n, d]`` -> ``Dense(units)`` -> ``Dense`` to ``[h / 2^L, w / 2^L, filters[0]]`` ->
    ``L = len(filters)`` 3x3 transposed convolutions of stride 2 -> ``[n, h, w, filters[-1]]``
    (all with ``activation``), the features a likelihood head turns into pixel parameters.
    ``h`` and ``w`` must be divisible by ``2^L``.
    """

    def __init__(self, image_shape: Sequence[int], filters: Sequence[int] = (64, 32), units: int = 256,
                 activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.filters, self.units, self.activation = tuple(int(f) for f in filters), int(units), activation
        scale = 2 ** len(self.filters)
        height, width = self.image_shape[:2]
        if height % scale or width % scale:
            raise ValueError(f"A ConvDecoder with {len(self.filters)} upsampling steps needs image sides "
                             f"divisible by {scale}, got {self.image_shape}.")
        self.grid = (height // scale, width // scale, self.filters[0])
        self.dense = keras.layers.Dense(self.units, activation=activation, name="dense")
        self.project = keras.layers.Dense(int(np.prod(self.grid)), activation=activation, name="project")
        self.deconvs = [keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation=activation,
                                                     name=f"deconv_{i}") for i, f in enumerate(self.filters)]

    def build(self, input_shape):
        self.dense.build(tuple(input_shape))
        self.project.build((None, self.units))
        shape = (None,) + self.grid
        for deconv in self.deconvs:
            deconv.build(shape)
            shape = deconv.compute_output_shape(shape)

    def call(self, z):
        def decode(rows):
            h = tf.reshape(self.project(self.dense(rows)), (-1,) + self.grid)
            for deconv in self.deconvs:
                h = deconv(h)
            return h

        return on_rows(decode, z)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + self.image_shape[:2] + (self.filters[-1],)

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "filters": self.filters,
                "units": self.units, "activation": self.activation}


def network(kind: str, role: str, image_shape: Sequence[int], hidden: Sequence[int],
            activation: str) -> keras.layers.Layer:
    """The encoder (``role="encoder"``: data -> features) or decoder (``"decoder"``: latent ->
    features) network ``kind``: ``"mlp"`` (dense layers of sizes ``hidden``) or ``"conv"``
    (:class:`ConvEncoder` / :class:`ConvDecoder` with a dense layer of ``hidden[-1]`` units)."""
    if kind == "mlp":
        return MLP(hidden, activation, name=role)
    if kind == "conv":
        units = hidden[-1] if hidden else 256
        cls = ConvEncoder if role == "encoder" else ConvDecoder
        filters = (32, 64) if role == "encoder" else (64, 32)
        return cls(image_shape, filters=filters, units=units, activation=activation, name=role)
    raise ValueError(f"Unknown network {kind!r}; choose one of {list(config.NETWORKS)}.")


class _Head(keras.layers.Layer):
    """Shared plumbing: an optional MLP trunk, then ``params(h)`` -> distribution parameters.

    Subclasses fill ``self.heads`` with the Dense layers of their parameters (``self.outputs``
    units each) and define ``params`` and ``distribution(*params)``; everything else
    (log-density, mean, sampling) is read off the TFP distribution so the math lives in one
    place. With ``channels`` the head reads feature maps ``[..., height, width, f]``: each
    Dense maps one pixel's features to ``channels`` values (a 1x1 convolution) and every
    parameter is flattened to ``[..., units]``, ``units = height * width * channels``.
    """

    def __init__(self, units: int, hidden: Sequence[int] = (), activation: str = "tanh",
                 channels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden = tuple(int(u) for u in hidden)
        self.activation = activation
        self.channels = None if channels is None else int(channels)
        if self.channels is not None and (self.hidden or self.units % self.channels):
            raise ValueError(f"A per-pixel head needs no hidden layers and units ({self.units}) divisible "
                             f"by channels ({self.channels}).")
        self.outputs = self.units if self.channels is None else self.channels
        self.trunk = MLP(self.hidden, activation, name="trunk")
        self.heads = {}

    def build(self, input_shape):
        self.trunk.build(input_shape)
        features = self.hidden[-1] if self.hidden else input_shape[-1]
        for head in self.heads.values():
            head.build(tuple(input_shape)[:-1] + (features,))

    def call(self, h):
        if self.channels is None:
            return on_rows(lambda rows: self.params(self.trunk(rows)), h)

        def per_pixel(maps):
            return tuple(tf.reshape(p, [tf.shape(p)[0], self.units]) for p in self.params(maps))

        return on_rows(per_pixel, h, event_rank=3)

    def _float32(self, t):
        """``t`` in the variable dtype: under mixed precision (``mixed_float16``) the Dense
        layers compute in float16 but distribution parameters and log-densities stay float32."""
        return tf.cast(t, self.variable_dtype)

    def log_prob(self, x: tf.Tensor, *params: tf.Tensor) -> tf.Tensor:
        """``log p(x | params)`` summed over the event dimension: shape ``[...]``."""
        return self.distribution(*params).log_prob(x)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "hidden": self.hidden,
            "activation": self.activation,
            "channels": self.channels,
        }


@_serializable
class DiagonalGaussian(_Head):
    """Diagonal Gaussian ``N(mu(h), diag(sigma(h)^2))`` with ``sigma = exp(W_s h + b_s)``.

    The stochastic layer of Kingma & Welling (2014) and Burda et al. (2016, section 5):
    samples are reparameterised, ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``.
    """

    def __init__(self, units: int, hidden: Sequence[int] = (), activation: str = "tanh", **kwargs):
        super().__init__(units, hidden, activation, **kwargs)
        self.heads = {"loc": keras.layers.Dense(self.outputs, name="loc"),
                      "log_scale": keras.layers.Dense(self.outputs, name="log_scale")}

    def params(self, h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(loc, scale)``, each ``[..., units]``."""
        return self._float32(self.heads["loc"](h)), tf.exp(self._float32(self.heads["log_scale"](h)))

    def distribution(self, loc: tf.Tensor, scale: tf.Tensor) -> tfd.Distribution:
        """``N(loc, diag(scale^2))``, event ``[units]``."""
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)

    @staticmethod
    def sample(loc: tf.Tensor, scale: tf.Tensor, seed: keras.random.SeedGenerator,
               k: int | None = None) -> tf.Tensor:
        """Reparameterised sample, ``[k, *loc.shape]`` if ``k`` is given, else ``loc.shape``."""
        shape = tf.shape(loc) if k is None else tf.concat([[k], tf.shape(loc)], 0)
        return loc + scale * noise.normal(shape, seed, dtype=loc.dtype)

    def log_prob(self, x: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
        """``log N(x; loc, diag(scale^2))`` summed over the last axis."""
        return normal_log_prob(x, loc, scale)

    def sample_and_log_prob(self, params, seed, k=None, estimator="total"):
        """:func:`gaussian_sample_and_log_prob` of this head's ``params``."""
        return gaussian_sample_and_log_prob(params, seed, k, estimator)


def gaussian_sample_and_log_prob(params, seed, k=None, estimator="total"):
    """``(z, log q(z))`` for a diagonal Gaussian ``params = (loc, scale)``: ``z`` reparameterised,
    ``[k, *loc.shape]``, and ``log q`` ``[k, batch]`` (no ``k``: no sample axis).
    ``estimator="path"`` holds the parameters fixed inside ``log q``
    (:func:`tfgen.objectives.variational_parameters`); ``z`` uses the live ones, stopped for the
    score-function estimators (:func:`tfgen.objectives.samples`)."""
    z = objectives.samples(DiagonalGaussian.sample(*params, seed=seed, k=k), estimator)
    return z, normal_log_prob(z, *objectives.variational_parameters(params, estimator))


@_serializable
class BernoulliLatent(_Head):
    """Binary stochastic layer ``prod_i Bern(h_i; sigmoid(l_i))``, ``l = W f + b``: the units of a
    sigmoid belief network (Neal 1992) and of Mohamed's tutorial's latent binary VAE.

    Samples carry no pathwise gradient; :meth:`sample` wires the ``"taylor"`` estimator into
    them, and :meth:`relaxed_sample` / :meth:`relaxed_log_prob` give the binary Concrete
    relaxation (Maddison, Mnih & Teh 2017, "The Concrete Distribution", sec. 3.3 and app. B;
    Jang, Gu & Poole 2017, "Gumbel-Softmax"): in logit space ``y = (l + L) / tau`` with
    ``L ~ Logistic(0, 1)``, a reparameterised sample whose ``sigmoid(y)`` tends to the binary
    ``h = [l + L > 0]`` as ``tau -> 0``.
    """

    def __init__(self, units, hidden=(), activation="tanh", **kwargs):
        super().__init__(units, hidden, activation, **kwargs)
        self.heads = {"logits": keras.layers.Dense(self.outputs, name="logits")}

    def params(self, h):
        return (self._float32(self.heads["logits"](h)),)

    def distribution(self, logits):
        return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=logits.dtype), 1)

    @staticmethod
    def unit_log_prob(h, logits):
        """``log Bern(h_i; sigmoid(l_i))`` per unit, differentiable in ``h`` too: ``[..., units]``."""
        return h * logits - tf.nn.softplus(logits)

    @staticmethod
    def log_prob(h, logits):
        return tf.reduce_sum(BernoulliLatent.unit_log_prob(h, logits), axis=-1)

    @staticmethod
    def logistic_noise(logits, seed, k=None):
        shape = tf.shape(logits) if k is None else tf.concat([[k], tf.shape(logits)], 0)
        u = 1e-6 + (1.0 - 2e-6) * noise.uniform(shape, seed, dtype=logits.dtype)  # in [1e-6, 1 - 1e-6)
        return tf.math.log(u) - tf.math.log1p(-u)

    @classmethod
    def sample(cls, logits, seed, k=None, estimator="reinforce"):
        """Binary sample ``h = [l + L > 0]`` (``[k, *logits.shape]`` if ``k``), as float.

        For ``estimator="taylor"`` the sample is ``stop(h) + stop(h - 1/2) zero(log q(h_i))``:
        its value is ``h`` and the gradient ``df/dh_i`` reaching it becomes
        ``df/dh_i (h_i - 1/2) grad log q(h_i)``, the tutorial's Taylor-baseline estimator
        (Gregor et al. 2014, eq. 23). Otherwise no gradient flows through ``h``.
        """
        logits_k = logits if k is None else tf.broadcast_to(logits, tf.concat([[k], tf.shape(logits)], 0))
        h = tf.cast(logits_k + cls.logistic_noise(logits, seed, k) > 0.0, logits.dtype)
        h = tf.stop_gradient(h)
        if estimator == "taylor":
            log_q = cls.unit_log_prob(h, logits_k)
            h = h + tf.stop_gradient(h - 0.5) * (log_q - tf.stop_gradient(log_q))
        return h

    @classmethod
    def relaxed_sample(cls, logits, seed, temperature, k=None):
        """The Concrete relaxation's logit ``y = (l + L) / temperature`` (reparameterised)."""
        return (logits + cls.logistic_noise(logits, seed, k)) / temperature

    @staticmethod
    def relaxed_log_prob(y, logits, temperature):
        """``log`` density of ``y`` under the relaxation with ``logits`` and ``temperature``:
        ``y ~ Logistic(l / tau, 1 / tau)`` per unit, summed: ``[...]``."""
        return tf.reduce_sum(tfd.Logistic(logits / temperature, 1.0 / temperature).log_prob(y), axis=-1)


def normal_log_prob(x: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """``log N(x; loc, diag(scale^2))`` summed over the last axis, in one fused expression.

    ``sum_d -0.5 ((x_d - loc_d) / scale_d)^2 - log scale_d - 0.5 log(2 pi)``: the log-density
    of ``tfd.Independent(tfd.Normal(loc, scale), 1)`` without materialising broadcasts.
    """
    return tf.reduce_sum(
        -0.5 * tf.square((x - loc) / scale) - tf.math.log(scale) - 0.5 * np.log(2.0 * np.pi), axis=-1
    )


def standard_normal_log_prob(z: tf.Tensor) -> tf.Tensor:
    """``log N(z; 0, I)`` summed over the last axis."""
    return tf.reduce_sum(-0.5 * tf.square(z) - 0.5 * np.log(2.0 * np.pi), axis=-1)


_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))


# float32 erf stops at -1 + 1.8e-7 (XLA's approximation, x < -5.3), which would leave a slope of 9e-8 in
# x Phi(x) for very negative x; below _GELU_ZERO, where Phi(x) < 4e-8, GELU and its gradient are 0
# (a NaN fails the comparison and stays NaN, so a diverging run still shows in its loss).
_GELU_ZERO = -5.5


@tf.function(jit_compile=True, reduce_retracing=True)  # eager calls of many shapes: one trace
def _gelu(x):
    return tf.where(x < _GELU_ZERO, 0.0, 0.5 * x * (1.0 + tf.math.erf(x * _SQRT_HALF)))


@tf.function(jit_compile=True, reduce_retracing=True)
def _gelu_grad(x, upstream):
    slope = 0.5 + 0.5 * tf.math.erf(x * _SQRT_HALF) + _INV_SQRT_2PI * x * tf.exp(-0.5 * tf.square(x))
    return upstream * tf.where(x < _GELU_ZERO, 0.0, slope)


@tf.custom_gradient
def gelu(x: tf.Tensor) -> tf.Tensor:
    """The exact GELU ``x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`` (Hendrycks & Gimpel, "Gaussian
    Error Linear Units", 2016), elementwise, any shape.

    Equal to ``tf.nn.gelu(x)`` (to 2e-6: float32 rounding, as PyTorch's ``gelu``, which uses the
    same ``erf`` form) with its gradient ``Phi(x) + x phi(x)``; each is one XLA-fused loop, where
    TensorFlow's ``gelu`` runs an ``erfc`` and about six elementwise ops forward and more
    backward. ``erf`` rather than ``erfc``: XLA's ``erfc`` takes two branches, and the top-down
    VAE's step was 5% faster with ``erf`` on the CPU, where GELU costs a quarter of the step
    (docs/benchmarks.md).
    """
    return _gelu(x), lambda upstream: _gelu_grad(x, upstream)


_FACTORS_PER_LOG = 112  # factors in (1, 2] multiplied before a log: their product is at most 2^112


@tf.function(jit_compile=True, reduce_retracing=True)
def _bernoulli_log_prob(x, logits):
    # softplus(l) = relu(l) + log(1 + exp(-|l|)) is stable for every l. Summed over the last axis,
    # the logs become the log of products of at most 112 factors 1 + exp(-|l|) in (1, 2], so a
    # product stays inside float32 and a row of 784 pixels takes 7 logs instead of 784: the
    # k = 5000 evaluation's Bernoulli term about 1.5x faster (docs/benchmarks.md). 1 + u drops
    # u < 2^-24, an error below 6e-8 nats per pixel. The products are taken in float32 at least
    # (float16 ends at 2^16) and over the broadcast shape (logits may broadcast along pixels).
    linear = tf.reduce_sum(x * logits - tf.nn.relu(logits), -1)
    full = tf.broadcast_to(logits, tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(logits)))
    pixels = tf.shape(full)[-1]
    groups = tf.maximum((pixels + _FACTORS_PER_LOG - 1) // _FACTORS_PER_LOG, 1)
    size = (pixels + groups - 1) // groups
    wide = tf.float64 if logits.dtype == tf.float64 else tf.float32
    factors = tf.cast(1.0 + tf.exp(-tf.abs(full)), wide)
    padding = tf.concat([tf.zeros([tf.rank(full) - 1, 2], tf.int32), [[0, groups * size - pixels]]], 0)
    factors = tf.reshape(tf.pad(factors, padding, constant_values=1.0),
                         tf.concat([tf.shape(full)[:-1], [groups, size]], 0))
    log_products = tf.cast(tf.reduce_sum(tf.math.log(tf.reduce_prod(factors, -1)), -1), logits.dtype)
    # reshaped to tf.shape(linear) so that shape inference at a call site (inside a loop whose carry
    # keeps its static shape) sees the shape of the inputs' broadcast, as it does for ``linear``
    return linear - tf.reshape(log_products, tf.shape(linear))


@tf.function(jit_compile=True, reduce_retracing=True)
def _bernoulli_log_prob_grad(x, logits, upstream):
    return upstream[..., None] * (x - tf.sigmoid(logits))


@tf.custom_gradient
def bernoulli_log_prob(x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """``log Bernoulli(x; sigmoid(l)) = sum_d x_d l_d - softplus(l_d)`` over the last axis.

    Equal to ``tfd.Independent(tfd.Bernoulli(logits=l), 1).log_prob(x)``, which builds the
    broadcast ``[k, batch, d]`` tensors and about ten elementwise passes over them; here the
    forward pass and its gradient ``d/dl = x - sigmoid(l)`` are each one XLA-compiled kernel,
    the forward one with one ``exp`` per pixel and one ``log`` per 112 pixels (the ``log`` of a
    product of ``1 + exp(-|l|)`` factors). The largest cost of a decoder after its matmuls.
    ``x`` is data: it gets no gradient.
    """
    def grad(upstream):
        return None, _bernoulli_log_prob_grad(x, logits, upstream)

    return _bernoulli_log_prob(x, logits), grad


@_serializable
class BernoulliLogits(_Head):
    """Bernoulli likelihood ``p(x | h) = prod_d sigmoid(l_d)^x_d (1 - sigmoid(l_d))^(1 - x_d)``.

    ``l = W h + b``; Burda et al. initialise ``b`` to the logit of the training-set mean, see
    :meth:`set_bias_from_mean`.
    """

    def __init__(self, units: int, hidden: Sequence[int] = (), activation: str = "tanh", **kwargs):
        super().__init__(units, hidden, activation, **kwargs)
        self.heads = {"logits": keras.layers.Dense(self.outputs, name="logits")}

    def params(self, h: tf.Tensor) -> tuple[tf.Tensor]:
        """``(logits,)``, ``[..., units]``."""
        return (self._float32(self.heads["logits"](h)),)

    def distribution(self, logits: tf.Tensor) -> tfd.Distribution:
        """Independent Bernoulli pixels, event ``[units]``."""
        return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=logits.dtype), 1)

    def log_prob(self, x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """``log p(x | logits)`` summed over the last axis (fused, :func:`bernoulli_log_prob`)."""
        return bernoulli_log_prob(tf.cast(x, logits.dtype), logits)

    def mean(self, logits: tf.Tensor) -> tf.Tensor:
        """``sigmoid(logits)``."""
        return tf.sigmoid(logits)

    def set_bias_from_mean(self, mean: np.ndarray, clip: float = 1e-3) -> None:
        """Set the output bias to ``logit(mean)``, the mean clipped to ``[clip, 1 - clip]``.

        ``mean`` is ``[units]``; a per-pixel head takes the mean over pixels per channel.
        """
        p = np.clip(_per_output(self, mean), clip, 1.0 - clip)
        self.heads["logits"].bias.assign(np.log(p / (1.0 - p)).astype("float32"))

    @staticmethod
    def validate(x: np.ndarray) -> None:
        """Raise ``ValueError`` unless every value of ``x`` is 0 or 1."""
        bad = (x != 0) & (x != 1)
        if np.any(bad):
            value = np.asarray(x)[bad].flat[0]
            raise ValueError(
                f"A Bernoulli likelihood needs binary data (0 or 1), but found {value!r} "
                f"({int(np.sum(bad))} non-binary values). Binarize the data first, e.g. "
                "tfgen.data.load(..., binarize=True)."
            )


@_serializable
class Gaussian(_Head):
    """Gaussian likelihood ``N(x; mu(h), diag(sigma^2))``.

    ``variance="fixed"``: ``sigma`` is the constant ``scale`` (a squared error up to
    constants); ``variance="learned"``: ``sigma = min_scale + exp(W_s h + b_s)`` per
    dimension (Kingma & Welling 2014, app. C.2), ``min_scale`` keeping the density finite on
    constant pixels.
    """

    def __init__(self, units: int, hidden: Sequence[int] = (), activation: str = "tanh",
                 variance: str = "fixed", scale: float = 1.0, min_scale: float = 0.0, **kwargs):
        if variance not in ("fixed", "learned"):
            raise ValueError(f"variance must be 'fixed' or 'learned', got {variance!r}")
        super().__init__(units, hidden, activation, **kwargs)
        self.variance = variance
        self.scale, self.min_scale = float(scale), float(min_scale)
        self.heads = {"loc": keras.layers.Dense(self.outputs, name="loc")}
        if variance == "learned":
            self.heads["log_scale"] = keras.layers.Dense(self.outputs, name="log_scale")

    def params(self, h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(loc, scale)``, each ``[..., units]``."""
        loc = self._float32(self.heads["loc"](h))
        if self.variance == "learned":
            return loc, self.min_scale + tf.exp(self._float32(self.heads["log_scale"](h)))
        return loc, tf.fill(tf.shape(loc), tf.constant(self.scale, loc.dtype))

    def distribution(self, loc: tf.Tensor, scale: tf.Tensor) -> tfd.Distribution:
        """``N(loc, diag(scale^2))``, event ``[units]``."""
        return tfd.Independent(tfd.Normal(loc, scale), 1)

    def log_prob(self, x: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
        """``log N(x; loc, diag(scale^2))`` summed over the last axis."""
        return normal_log_prob(x, loc, scale)

    def mean(self, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
        """``loc``."""
        return loc

    def set_bias_from_mean(self, mean: np.ndarray) -> None:
        """Start the mean's bias at ``mean`` (``[units]``; per channel for a per-pixel head)."""
        self.heads["loc"].bias.assign(_per_output(self, mean).astype("float32"))

    @staticmethod
    def validate(x: np.ndarray) -> None:
        """Gaussian data may take any finite value; finiteness is checked by the model."""

    def get_config(self):
        return {**super().get_config(), "variance": self.variance, "scale": self.scale,
                "min_scale": self.min_scale}


def _per_output(head, mean):
    """``mean [units]`` as one value per output of ``head``'s Dense layers (float64)."""
    mean = np.asarray(mean, dtype="float64").reshape(-1)
    if head.channels is None:
        return mean
    return mean.reshape(-1, head.channels).mean(axis=0)


def likelihood(kind: str, units: int, channels: int | None = None, scale: float = 1.0,
               min_scale: float = 1.0 / 256) -> keras.layers.Layer:
    """The likelihood head ``kind`` over ``units`` values (per-pixel with ``channels``):
    ``"bernoulli"`` (binary data), ``"gaussian"`` (learned per-value scale, at least
    ``min_scale``) or ``"gaussian_fixed"`` (scale fixed at ``scale``)."""
    if kind == "bernoulli":
        return BernoulliLogits(units, channels=channels, name="p_x")
    if kind == "gaussian":
        return Gaussian(units, variance="learned", min_scale=min_scale, channels=channels, name="p_x")
    if kind == "gaussian_fixed":
        return Gaussian(units, variance="fixed", scale=scale, channels=channels, name="p_x")
    raise ValueError(f"Unknown likelihood {kind!r}; choose one of {list(config.LIKELIHOODS)}.")
