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
        for layer in self.dense:
            x = layer(x)
        return x

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
        return self.params(self.trunk(h))

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
        return self.heads["loc"](h), tf.exp(self.heads["log_scale"](h))

    def distribution(self, loc, scale):
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)

    @staticmethod
    def sample(loc, scale, seed, k=None):
        """Reparameterised sample, ``[k, *loc.shape]`` if ``k`` is given, else ``loc.shape``."""
        shape = tf.shape(loc) if k is None else tf.concat([[k], tf.shape(loc)], 0)
        return loc + scale * keras.random.normal(shape, seed=seed)


def standard_normal_log_prob(z):
    """``log N(z; 0, I)`` summed over the last axis."""
    return tf.reduce_sum(-0.5 * tf.square(z) - 0.5 * np.log(2.0 * np.pi), axis=-1)


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
        return (self.heads["logits"](h),)

    def distribution(self, logits):
        return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=logits.dtype), 1)

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
        loc = self.heads["loc"](h)
        if self.variance == "learned":
            return loc, tf.exp(self.heads["log_scale"](h))
        return loc, tf.fill(tf.shape(loc), tf.constant(self.scale, loc.dtype))

    def distribution(self, loc, scale):
        return tfd.Independent(tfd.Normal(loc, scale), 1)

    def mean(self, loc, scale):
        return loc

    @staticmethod
    def validate(x):
        """Gaussian data may take any finite value; finiteness is checked by the model."""

    def get_config(self):
        return {**super().get_config(), "variance": self.variance, "scale": self.scale}
