"""Normalizing-flow posteriors: ``q(z | x)`` as a diagonal Gaussian pushed through invertible maps.

``z_0 ~ N(mu(x), diag(sigma(x)^2))``, ``z_T = f_T o ... o f_1 (z_0)`` and, by the change of
variables,

    log q(z_T | x) = log N(z_0; mu, sigma^2) - sum_t log |det d f_t / d z_{t-1}|,

so a model that scores ``log q`` with :meth:`FlowPosterior.sample_and_log_prob` gets every
bound and gradient estimator over ``log_w`` unchanged (Rezende & Mohamed, "Variational
Inference with Normalizing Flows", ICML 2015, eq. 6-7). Two flows, both amortised (their
parameters are read off the encoder's features ``h``):

* :class:`PlanarFlow`: ``f(z) = z + u_hat tanh(w^T z + b)`` (Rezende & Mohamed 2015, eq. 10-12,
  with ``u_hat`` of their appendix A.1 so every step is invertible).
* :class:`InverseAutoregressiveFlow`: Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling,
  "Improved Variational Inference with Inverse Autoregressive Flow" (NeurIPS 2016). Each step is
  TFP's masked autoregressive bijector used in its one-pass direction,
  ``tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=made))``:
  ``z_t = sigma_t * (z_{t-1} - m_t)`` with ``[m_t, s_t] = made(z_{t-1}, h)`` autoregressive
  (output ``i`` sees inputs ``< i`` only) and ``sigma_t = sigmoid(s_t)`` (the gate of their
  eq. 14, for stability), so ``log |det| = sum_i log sigma_t,i``. The network is our own
  Keras 3 :class:`MADE` (TFP's ``AutoregressiveNetwork`` is a Keras 2 object a Keras 3
  model neither tracks nor saves); the order of the units is reversed between steps.

Shapes follow TFP: sample dimensions first, ``z [k, batch, units]``.
"""
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfgen import layers, objectives
from tfgen.config import POSTERIORS

tfb = tfp.bijectors

# s_t starts at this bias, so sigma_t = sigmoid(2) ~ 0.88: each IAF step starts near the
# identity (Kingma et al. 2016, sec. 4, "initialized ... to a sufficiently positive value").
IAF_GATE_BIAS = 2.0


def _serializable(cls):
    return keras.saving.register_keras_serializable(package="tfgen")(cls)


def made_degrees(units, hidden, reverse=False):
    """Degrees of MADE's units (Germain et al., "MADE", ICML 2015, sec. 4): inputs ``1..D``
    (``D..1`` if ``reverse``), hidden units cycling through ``1..D-1``; outputs have the
    inputs' degrees. Hidden unit ``j`` may read input ``i`` iff ``deg_h[j] >= deg_in[i]``;
    output ``o`` may read hidden ``j`` iff ``deg_in[o] > deg_h[j]``."""
    inputs = np.arange(1, units + 1)
    if reverse:
        inputs = inputs[::-1]
    hidden_degrees = [np.arange(h) % max(units - 1, 1) + 1 for h in hidden]
    return inputs, hidden_degrees


def made_masks(units, hidden, reverse=False):
    """The 0/1 masks ``[fan_in, fan_out]`` of MADE's layers, input to output (see :func:`made_degrees`)."""
    inputs, hidden_degrees = made_degrees(units, hidden, reverse)
    masks, previous = [], inputs
    for degrees in hidden_degrees:
        masks.append((degrees[None, :] >= previous[:, None]).astype("float32"))
        previous = degrees
    masks.append((inputs[None, :] > previous[:, None]).astype("float32"))
    return masks


@_serializable
class MaskedDense(keras.layers.Layer):
    """``y = x (W * M) + b``: a dense layer whose kernel is multiplied by a fixed 0/1 mask ``M``.

    ``mask`` is ``[fan_in, fan_out]``; it is part of the configuration (rebuilt from it on
    load), not a weight.
    """

    def __init__(self, mask, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, dtype="float32")
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        fan_in, fan_out = self.mask.shape
        self.kernel = self.add_weight(shape=(fan_in, fan_out), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(fan_out,), initializer="zeros", name="bias")

    def call(self, x):
        return self.activation(tf.matmul(x, self.kernel * self.mask) + self.bias)

    def get_config(self):
        return {**super().get_config(), "mask": self.mask.tolist(),
                "activation": keras.activations.serialize(self.activation)}


@_serializable
class MADE(keras.layers.Layer):
    """Autoregressive network ``(z [..., D], h [..., C]) -> (m, s)``, each ``[..., D]``.

    Masked dense layers (:class:`MaskedDense`, masks of :func:`made_masks`) with the context
    ``h`` added to the first hidden layer through an unmasked dense projection (Kingma et al.
    2016, fig. 2), so output ``i`` depends on ``h`` and on the inputs before ``i`` in the
    order (``reverse`` flips it) and on no other input. The output layer starts at zero, with
    ``s``'s bias at ``gate_bias``.
    """

    def __init__(self, units, hidden=(100,), context=0, activation="elu", reverse=False,
                 gate_bias=IAF_GATE_BIAS, **kwargs):
        super().__init__(**kwargs)
        self.units, self.hidden, self.context = int(units), tuple(int(h) for h in hidden), int(context)
        self.activation, self.reverse, self.gate_bias = activation, bool(reverse), float(gate_bias)
        if not self.hidden:
            raise ValueError("MADE needs at least one hidden layer.")
        masks = made_masks(self.units, self.hidden, self.reverse)
        self.masked = [MaskedDense(m, activation=None, name=f"masked_{i}") for i, m in enumerate(masks[:-1])]
        out = masks[-1]
        self.shift = MaskedDense(out, name="shift")
        self.gate = MaskedDense(out, name="gate")
        self.project = (keras.layers.Dense(self.hidden[0], use_bias=False, name="context") if self.context
                        else None)

    def build(self, input_shape=None):
        for layer in self.masked + [self.shift, self.gate]:
            layer.build(None)
        for layer in (self.shift, self.gate):
            layer.kernel.assign(tf.zeros_like(layer.kernel))
        self.gate.bias.assign(tf.fill(self.gate.bias.shape, self.gate_bias))
        if self.project is not None:
            self.project.build((None, self.context))

    def call(self, z, h=None):
        def network(rows, context):
            a = self.masked[0](rows)
            if self.project is not None:
                a = a + self.project(context)
            a = keras.activations.get(self.activation)(a)
            for layer in self.masked[1:]:
                a = keras.activations.get(self.activation)(layer(a))
            return self.shift(a), self.gate(a)

        if self.project is None:
            return layers.on_rows(lambda rows: network(rows, None), z)
        h = tf.broadcast_to(h, tf.concat([tf.shape(z)[:-1], tf.shape(h)[-1:]], 0))
        both = tf.concat([z, h], axis=-1)
        return layers.on_rows(lambda rows: network(rows[:, :self.units], rows[:, self.units:]), both)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden": self.hidden, "context": self.context,
                "activation": self.activation, "reverse": self.reverse, "gate_bias": self.gate_bias}


def iaf_step(made, h):
    """One IAF step as a TFP bijector driven by ``made`` with context ``h`` (see the module):
    forward ``z -> sigmoid(s) * (z - m)``, ``forward_log_det_jacobian = sum log sigmoid(s)``."""

    def shift_and_log_scale(z):
        m, s = made(z, h)
        return m, -tf.math.log_sigmoid(s)  # MAF's inverse is (z - shift) * exp(-log_scale)

    return tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale))


@_serializable
class PlanarFlow(keras.layers.Layer):
    """``steps`` amortised planar maps ``f(z) = z + u_hat tanh(w^T z + b)`` (Rezende & Mohamed 2015).

    ``params(h)`` reads ``(u, w, b)`` of every step off the features ``h [batch, F]``:
    ``u, w [batch, steps, units]``, ``b [batch, steps]``. ``u_hat = u + (m(w^T u) - w^T u)
    w / |w|^2`` with ``m(a) = -1 + softplus(a)`` makes ``w^T u_hat > -1``, so each map is
    invertible (their appendix A.1); ``log |det| = log |1 + u_hat^T w tanh'(w^T z + b)|``.
    """

    def __init__(self, units, steps, **kwargs):
        super().__init__(**kwargs)
        self.units, self.steps = int(units), int(steps)
        self.dense = keras.layers.Dense(self.steps * (2 * self.units + 1), kernel_initializer="zeros",
                                        name="parameters")

    def build(self, input_shape):
        self.dense.build(tuple(input_shape))
        # u and b start at zero (the identity map); w starts at small random values so w^T z
        # carries a gradient to u from the first step.
        bias = np.zeros(self.dense.bias.shape, "float32")
        w = np.random.default_rng(0).normal(0.0, 0.01, (self.steps, self.units))
        bias.reshape(self.steps, 2 * self.units + 1)[:, self.units:2 * self.units] = w
        self.dense.bias.assign(bias)

    def params(self, h):
        p = tf.reshape(self.dense(h), [-1, self.steps, 2 * self.units + 1])
        return p[..., :self.units], p[..., self.units:2 * self.units], p[..., -1]

    def forward(self, z, params):
        """``(z_T, sum_t log |det df_t/dz|)``: ``z [k, batch, units]`` (or ``[batch, units]``)
        through every step; ``params`` from :meth:`params`."""
        u, w, b = params
        wu = tf.reduce_sum(w * u, -1, keepdims=True)
        u_hat = u + (tf.nn.softplus(wu) - 1.0 - wu) * w / (tf.reduce_sum(w * w, -1, keepdims=True) + 1e-8)
        log_det = tf.zeros(tf.shape(z)[:-1], z.dtype)
        for t in range(self.steps):
            a = tf.reduce_sum(w[:, t] * z, -1) + b[:, t]
            z = z + u_hat[:, t] * tf.tanh(a)[..., None]
            psi_u = (1.0 - tf.square(tf.tanh(a))) * tf.reduce_sum(w[:, t] * u_hat[:, t], -1)
            log_det += tf.math.log(tf.abs(1.0 + psi_u))
        return z, log_det

    def get_config(self):
        return {**super().get_config(), "units": self.units, "steps": self.steps}


@_serializable
class InverseAutoregressiveFlow(keras.layers.Layer):
    """``steps`` IAF steps (Kingma et al. 2016), each a :class:`MADE` driving TFP's bijector
    (:func:`iaf_step`), the order reversed between steps.

    ``params(h)`` is the context ``[batch, context]`` (a dense layer of the features with
    ``activation``) that every step reads.
    """

    def __init__(self, units, steps, hidden=(100,), context=50, activation="elu", **kwargs):
        super().__init__(**kwargs)
        self.units, self.steps = int(units), int(steps)
        self.hidden, self.context, self.activation = tuple(int(u) for u in hidden), int(context), activation
        self.dense = keras.layers.Dense(self.context, activation=activation, name="context")
        self.mades = [MADE(self.units, self.hidden, self.context, activation, reverse=bool(t % 2),
                           name=f"made_{t}") for t in range(self.steps)]

    def build(self, input_shape):
        self.dense.build(tuple(input_shape))
        for made in self.mades:
            made.build()

    def params(self, h):
        return (self.dense(h),)

    def forward(self, z, params):
        (h,) = params
        log_det = tf.zeros(tf.shape(z)[:-1], z.dtype)
        for made in self.mades:
            step = iaf_step(made, h)
            log_det += step.forward_log_det_jacobian(z, event_ndims=1)
            z = step.forward(z)
        return z, log_det

    def get_config(self):
        return {**super().get_config(), "units": self.units, "steps": self.steps, "hidden": self.hidden,
                "context": self.context, "activation": self.activation}


@_serializable
class FlowPosterior(keras.layers.Layer):
    """``q(z | h)``: a :class:`tfgen.layers.DiagonalGaussian` ``q_0`` then a flow.

    ``call(h)`` gives the parameters ``(loc, scale, *flow parameters)`` (``[batch, ...]``),
    the sample-independent part a large-k evaluation computes once;
    :meth:`sample_and_log_prob` draws ``z_T`` and scores ``log q(z_T | h)`` (module docstring).

    Args:
        units: latent units.
        flow: ``"planar"`` or ``"iaf"``.
        steps: flow steps (Rezende & Mohamed 2015 compare 2 to 80 planar steps on MNIST).
        hidden, activation: the hidden layers of each IAF step's MADE and their activation.
    """

    def __init__(self, units, flow="iaf", steps=2, hidden=(100,), activation="elu", **kwargs):
        super().__init__(**kwargs)
        if flow not in POSTERIORS or flow == "gaussian":
            raise ValueError(f"Unknown flow {flow!r}; choose planar or iaf.")
        self.units, self.flow_name, self.steps = int(units), flow, int(steps)
        self.hidden, self.activation = tuple(int(u) for u in hidden), activation
        self.base = layers.DiagonalGaussian(self.units, name="q0")
        self.flow = (PlanarFlow(self.units, self.steps, name="planar") if flow == "planar" else
                     InverseAutoregressiveFlow(self.units, self.steps, self.hidden, activation=activation,
                                               name="iaf"))

    def build(self, input_shape):
        self.base.build(tuple(input_shape))
        self.flow.build(tuple(input_shape))

    def call(self, h):
        return (*self.base(h), *self.flow.params(h))

    def sample_and_log_prob(self, params, seed, k=None, estimator="total"):
        """``(z_T, log q(z_T | h))``: ``[k, batch, units]`` and ``[k, batch]`` (no ``k``: no sample axis).

        Raises ``ValueError`` for any estimator but ``"total"``: the others need ``log q`` at
        ``z_T`` with the parameters held fixed, i.e. the inverse flow, which a planar flow has
        in no closed form.
        """
        if objectives.check_estimator(estimator) != "total":
            raise ValueError(f"The {estimator} estimator needs a diagonal-Gaussian posterior; "
                             f"a {self.flow_name} flow posterior trains with estimator='total'.")
        loc, scale, *flow_params = params
        z0 = layers.DiagonalGaussian.sample(loc, scale, seed, k)
        z, log_det = self.flow.forward(z0, flow_params)
        return z, layers.normal_log_prob(z0, loc, scale) - log_det

    def get_config(self):
        return {**super().get_config(), "units": self.units, "flow": self.flow_name, "steps": self.steps,
                "hidden": self.hidden, "activation": self.activation}


def posterior(kind, units, steps=2, hidden=(100,), name="q_z1"):
    """The posterior block ``kind`` of :data:`tfgen.config.POSTERIORS` over ``units`` latents:
    ``"gaussian"`` (a :class:`tfgen.layers.DiagonalGaussian`), ``"planar"`` or ``"iaf"``
    (:class:`FlowPosterior` with ``steps`` steps). Every one has ``call(h) -> params`` and
    ``sample_and_log_prob(params, seed, k, estimator)``."""
    if kind == "gaussian":
        return layers.DiagonalGaussian(units, name=name)
    return FlowPosterior(units, kind, steps, hidden, name=name)
