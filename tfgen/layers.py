"""Keras 3 layers that output distribution parameters as tensors.

Each head maps features ``h`` of shape ``[..., features]`` to the parameters of a
distribution over ``[..., units]`` and builds the matching ``tfp.distributions`` object
from those tensors (TFP as math only: no ``tfp.layers``). Event shape is ``[units]``;
sample dimensions come first, ``[k, batch, units]``, as in TFP.
"""
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def _serializable(cls):
    return keras.saving.register_keras_serializable(package="tfgen")(cls)


def on_rows(fn, h):
    """``fn`` applied to ``h [..., d]`` reshaped to rows ``[n, d]``; outputs reshaped back.

    Dense layers on ``[k, batch, d]`` inputs become one 2-D matmul each, which TensorFlow fuses
    with the bias and activation (a batched matmul is not fused). ``fn`` returns a tensor or a
    tuple of tensors ``[n, ...]``; a rank-2 ``h`` is passed through unchanged.
    """
    if len(h.shape) <= 2:
        return fn(h)
    leading = tf.shape(h)[:-1]
    out = fn(tf.reshape(h, [-1, h.shape[-1]]))

    def unflatten(t):
        return tf.reshape(t, tf.concat([leading, tf.shape(t)[1:]], 0))

    return tuple(unflatten(t) for t in out) if isinstance(out, tuple) else unflatten(out)


@_serializable
class MLP(keras.layers.Layer):
    """A stack of dense layers ``h_i = activation(W_i h_{i-1} + b_i)``, Glorot-uniform weights."""

    def __init__(self, units=(200, 200), activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        self.activation = activation
        self.dense = [
            keras.layers.Dense(u, activation=activation, name=f"dense_{i}")
            for i, u in enumerate(self.units)
        ]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.dense:
            layer.build(shape)
            shape = shape[:-1] + (layer.units,)

    def call(self, x):
        def stack(h):
            for layer in self.dense:
                h = layer(h)
            return h

        return on_rows(stack, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + ((self.units[-1],) if self.units else ())

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}


class _Head(keras.layers.Layer):
    """Shared plumbing: an optional MLP trunk, then ``params(h)`` -> distribution parameters.

    Subclasses fill ``self.heads`` with the Dense layers of their parameters and define
    ``params`` and ``distribution(*params)``; everything else (log-density,
    mean, sampling) is read off the TFP distribution so the math lives in one place.
    """

    def __init__(self, units, hidden=(), activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden = tuple(int(u) for u in hidden)
        self.activation = activation
        self.trunk = MLP(self.hidden, activation, name="trunk")
        self.heads = {}

    def build(self, input_shape):
        self.trunk.build(input_shape)
        features = self.hidden[-1] if self.hidden else input_shape[-1]
        for head in self.heads.values():
            head.build(tuple(input_shape)[:-1] + (features,))

    def call(self, h):
        return on_rows(lambda rows: self.params(self.trunk(rows)), h)

    def _float32(self, t):
        """``t`` in the variable dtype: under mixed precision (``mixed_float16``) the Dense
        layers compute in float16 but distribution parameters and log-densities stay float32."""
        return tf.cast(t, self.variable_dtype)

    def log_prob(self, x, *params):
        """``log p(x | params)`` summed over the event dimension: shape ``[...]``."""
        return self.distribution(*params).log_prob(x)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "hidden": self.hidden,
            "activation": self.activation,
        }


@_serializable
class DiagonalGaussian(_Head):
    """Diagonal Gaussian ``N(mu(h), diag(sigma(h)^2))`` with ``sigma = exp(W_s h + b_s)``.

    The stochastic layer of Kingma & Welling (2014) and Burda et al. (2016, section 5):
    samples are reparameterised, ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``.
    """

    def __init__(self, units, hidden=(), activation="tanh", **kwargs):
        super().__init__(units, hidden, activation, **kwargs)
        self.heads = {"loc": keras.layers.Dense(self.units, name="loc"),
                      "log_scale": keras.layers.Dense(self.units, name="log_scale")}

    def params(self, h):
        return self._float32(self.heads["loc"](h)), tf.exp(self._float32(self.heads["log_scale"](h)))

    def distribution(self, loc, scale):
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)

    @staticmethod
    def sample(loc, scale, seed, k=None):
        """Reparameterised sample, ``[k, *loc.shape]`` if ``k`` is given, else ``loc.shape``."""
        shape = tf.shape(loc) if k is None else tf.concat([[k], tf.shape(loc)], 0)
        return loc + scale * keras.random.normal(shape, seed=seed, dtype=loc.dtype)

    def log_prob(self, x, loc, scale):
        return normal_log_prob(x, loc, scale)


def normal_log_prob(x, loc, scale):
    """``log N(x; loc, diag(scale^2))`` summed over the last axis, in one fused expression.

    ``sum_d -0.5 ((x_d - loc_d) / scale_d)^2 - log scale_d - 0.5 log(2 pi)``: the log-density
    of ``tfd.Independent(tfd.Normal(loc, scale), 1)`` without materialising broadcasts.
    """
    return tf.reduce_sum(
        -0.5 * tf.square((x - loc) / scale) - tf.math.log(scale) - 0.5 * np.log(2.0 * np.pi), axis=-1
    )


def standard_normal_log_prob(z):
    """``log N(z; 0, I)`` summed over the last axis."""
    return tf.reduce_sum(-0.5 * tf.square(z) - 0.5 * np.log(2.0 * np.pi), axis=-1)


@tf.function(jit_compile=True)
def _bernoulli_log_prob(x, logits):
    # softplus(l) = relu(l) + log(1 + exp(-|l|)): stable for every l, one fused XLA loop. log(1 + u)
    # rather than log1p(u) (~1.7x faster on CPU): for u < 2^-24 it drops u, an error below 6e-8 nats.
    return tf.reduce_sum(x * logits - tf.nn.relu(logits) - tf.math.log(1.0 + tf.exp(-tf.abs(logits))), -1)


@tf.function(jit_compile=True)
def _bernoulli_log_prob_grad(x, logits, upstream):
    return upstream[..., None] * (x - tf.sigmoid(logits))


@tf.custom_gradient
def bernoulli_log_prob(x, logits):
    """``log Bernoulli(x; sigmoid(l)) = sum_d x_d l_d - softplus(l_d)`` over the last axis.

    Equal to ``tfd.Independent(tfd.Bernoulli(logits=l), 1).log_prob(x)``, which builds the
    broadcast ``[k, batch, d]`` tensors and about ten elementwise passes over them; here the
    forward pass and its gradient ``d/dl = x - sigmoid(l)`` are each one XLA-fused loop, the
    largest cost of a decoder after its matmuls. ``x`` is data: it gets no gradient.
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

    def __init__(self, units, hidden=(), activation="tanh", **kwargs):
        super().__init__(units, hidden, activation, **kwargs)
        self.heads = {"logits": keras.layers.Dense(self.units, name="logits")}

    def params(self, h):
        return (self._float32(self.heads["logits"](h)),)

    def distribution(self, logits):
        return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=logits.dtype), 1)

    def log_prob(self, x, logits):
        return bernoulli_log_prob(tf.cast(x, logits.dtype), logits)

    def mean(self, logits):
        return tf.sigmoid(logits)

    def set_bias_from_mean(self, mean, clip=1e-3):
        """Set the output bias to ``logit(mean)``, the mean clipped to ``[clip, 1 - clip]``."""
        p = np.clip(np.asarray(mean, dtype="float64"), clip, 1.0 - clip)
        self.heads["logits"].bias.assign(np.log(p / (1.0 - p)).astype("float32"))

    @staticmethod
    def validate(x):
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
    """Gaussian likelihood ``N(x; mu(h), sigma^2 I)``.

    ``variance="fixed"``: ``sigma`` is the constant ``scale`` (MSE up to constants);
    ``variance="learned"``: ``sigma = exp(W_s h + b_s)`` per dimension.
    """

    def __init__(self, units, hidden=(), activation="tanh", variance="fixed", scale=1.0, **kwargs):
        if variance not in ("fixed", "learned"):
            raise ValueError(f"variance must be 'fixed' or 'learned', got {variance!r}")
        super().__init__(units, hidden, activation, **kwargs)
        self.variance = variance
        self.scale = float(scale)
        self.heads = {"loc": keras.layers.Dense(self.units, name="loc")}
        if variance == "learned":
            self.heads["log_scale"] = keras.layers.Dense(self.units, name="log_scale")

    def params(self, h):
        loc = self._float32(self.heads["loc"](h))
        if self.variance == "learned":
            return loc, tf.exp(self._float32(self.heads["log_scale"](h)))
        return loc, tf.fill(tf.shape(loc), tf.constant(self.scale, loc.dtype))

    def distribution(self, loc, scale):
        return tfd.Independent(tfd.Normal(loc, scale), 1)

    def log_prob(self, x, loc, scale):
        return normal_log_prob(x, loc, scale)

    def mean(self, loc, scale):
        return loc

    @staticmethod
    def validate(x):
        """Gaussian data may take any finite value; finiteness is checked by the model."""

    def get_config(self):
        return {**super().get_config(), "variance": self.variance, "scale": self.scale}
