"""Convolutional building blocks of hierarchical (top-down) VAEs, VDVAE style.

Child, "Very Deep VAEs Generalize Autoregressive Models and Can Outperform Them on Images"
(ICLR 2021): a bottom-up encoder of residual bottleneck blocks over several resolutions,
and a top-down decoder in which every block holds one group of latent variables

    p(z_0:T) = prod_t p(z_t | z_<t),    q(z_0:T | x) = prod_t q(z_t | z_<t, x).

Images are ``[n, h, w, c]`` (channels last); a caller with ``k`` samples per example folds
them into the batch, ``n = k * batch``, sample dimension first.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from tfgen import noise, objectives
from tfgen.layers import gelu, normal_log_prob

# softplus(_SCALE_SHIFT) = 1: a zero pre-activation gives a unit scale.
_SCALE_SHIFT = math.log(math.e - 1.0)
_MIN_SCALE = 1e-3


def _serializable(cls):
    return keras.saving.register_keras_serializable(package="tfgen")(cls)


def gaussian_params(t: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Split channels ``[..., 2c]`` into ``loc [..., c]`` and ``scale = softplus(.) + 1e-3``."""
    loc, raw = tf.split(t, 2, axis=-1)
    return loc, tf.nn.softplus(raw + _SCALE_SHIFT) + _MIN_SCALE


def precision_weighted(loc_q: tf.Tensor, scale_q: tf.Tensor, loc_p: tf.Tensor,
                       scale_p: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Sonderby et al. (2016, eq. 18-19): merge two Gaussians by their precisions.

    ``sigma^2 = 1 / (sigma_q^-2 + sigma_p^-2)``, ``mu = (mu_q sigma_q^-2 + mu_p sigma_p^-2) sigma^2``.
    """
    prec_q, prec_p = tf.math.reciprocal(tf.square(scale_q)), tf.math.reciprocal(tf.square(scale_p))
    var = tf.math.reciprocal(prec_q + prec_p)
    return (loc_q * prec_q + loc_p * prec_p) * var, tf.sqrt(var)


def image_log_prob(z: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """``log N(z; loc, scale^2)`` summed over all but the first axis: ``[n, h, w, c] -> [n]``."""
    n = tf.shape(z)[0]
    return normal_log_prob(*(tf.reshape(t, [n, -1]) for t in (z, loc, scale)))


@_serializable
class Conv2D(keras.layers.Conv2D):
    """Keras' ``Conv2D`` (same arguments, weights and outputs) whose 1x1 case (stride 1, channels
    last, one group) runs as one matmul over all pixels, ``[n, h, w, c] @ [c, filters]``.

    Its class name is Keras', so the two write the same ``.weights.h5`` paths and checkpoints of
    either load into the other. At the top-down VAE's 8-32 channels TensorFlow's convolution
    kernels took about 0.1 ms longer per 1x1 call (forward and backward) than the matmul: 6% of
    that model's CPU step (docs/benchmarks.md).
    """

    def convolution_op(self, inputs, kernel):
        pointwise = ((1, 1), (1, 1), "channels_last", 1)
        if (self.kernel_size, self.strides, self.data_format, self.groups) != pointwise:
            return super().convolution_op(inputs, kernel)
        pixels = tf.reshape(inputs, [-1, kernel.shape[-2]])
        shape = tf.concat([tf.shape(inputs)[:-1], [self.filters]], 0)
        return tf.reshape(tf.matmul(pixels, kernel[0, 0]), shape)


@_serializable
class Bottleneck(keras.layers.Layer):
    """VDVAE's residual bottleneck block.

    ``f(x) = W_4 g(W_3 g(W_2 g(W_1 g(x))))`` with GELU ``g``, ``W_1`` a 1x1 conv to ``middle``
    channels, ``W_2, W_3`` ``kernel x kernel`` convs, ``W_4`` a 1x1 conv to ``out`` channels;
    the block returns ``x + f(x)`` when ``residual`` (then ``out`` must equal the input
    channels) else ``f(x)``. ``zero_last`` starts ``W_4`` at zero, so a residual block
    starts as the identity (and a head at zero).
    """

    def __init__(self, middle: int, out: int, residual: bool = True, kernel: int = 3, zero_last: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.middle, self.out, self.residual = int(middle), int(out), bool(residual)
        self.kernel, self.zero_last = int(kernel), bool(zero_last)
        last_init = "zeros" if self.zero_last else "glorot_uniform"
        self.convs = [
            Conv2D(self.middle, 1, name="conv_in"),
            Conv2D(self.middle, self.kernel, padding="same", name="conv_a"),
            Conv2D(self.middle, self.kernel, padding="same", name="conv_b"),
            Conv2D(self.out, 1, kernel_initializer=last_init, name="conv_out"),
        ]

    def build(self, input_shape):
        if self.residual and input_shape[-1] != self.out:
            raise ValueError(
                f"A residual Bottleneck needs out == input channels, got out={self.out} "
                f"for input {tuple(input_shape)}."
            )
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:-1] + (conv.filters,)

    def call(self, x):
        h = x
        for conv in self.convs:
            h = conv(gelu(h))
        return x + h if self.residual else h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.out,)

    def get_config(self):
        return {**super().get_config(), "middle": self.middle, "out": self.out, "residual": self.residual,
                "kernel": self.kernel, "zero_last": self.zero_last}


@_serializable
class BottomUp(keras.layers.Layer):
    """Bottom-up encoder: a 3x3 stem to ``width`` channels, then per resolution (finest
    first) ``blocks`` residual bottleneck blocks and an average-pooling step down.

    ``call(x)`` returns ``{resolution: activations [n, r, r, width]}`` (string keys), the
    features each top-down latent group at that resolution reads.
    """

    def __init__(self, resolutions: Sequence[int], blocks: Sequence[int], width: int, middle: int, **kwargs):
        super().__init__(**kwargs)
        self.resolutions = tuple(int(r) for r in resolutions)  # coarsest first
        self.blocks = tuple(int(b) for b in blocks)
        if len(self.blocks) != len(self.resolutions):
            raise ValueError(f"One block count per resolution: {self.resolutions} vs {self.blocks}.")
        self.width, self.middle = int(width), int(middle)
        self.stem = Conv2D(self.width, 3, padding="same", name="stem")
        self.stages = [
            [Bottleneck(self.middle, self.width, kernel=3 if r > 2 else 1, name=f"res{r}_{i}")
             for i in range(n)]
            for r, n in zip(self.resolutions, self.blocks)
        ]

    def build(self, input_shape):
        self.stem.build(tuple(input_shape))
        for r, stage in zip(self.resolutions, self.stages):
            for block in stage:
                block.build((None, r, r, self.width))

    def call(self, x):
        h = self.stem(x)
        acts = {}
        for i in reversed(range(len(self.resolutions))):
            r = self.resolutions[i]
            for block in self.stages[i]:
                h = block(h)
            acts[str(r)] = h
            if i:
                step = r // self.resolutions[i - 1]
                h = tf.nn.avg_pool2d(h, step, step, "VALID")
        return acts

    def get_config(self):
        return {**super().get_config(), "resolutions": self.resolutions, "blocks": self.blocks,
                "width": self.width, "middle": self.middle}


@_serializable
class LatentGroup(keras.layers.Layer):
    """One top-down block with a group of ``latent`` channels (VDVAE's decoder block).

    From the top-down state ``h`` (``[n, r, r, width]``) a prior block gives
    ``p(z | z_<) = N(mu_p, sigma_p)`` and a feature update ``f_p(h)``. With bottom-up
    ``acts``, a posterior block on ``[h, acts]`` gives ``q(z | z_<, x)``, merged with the
    prior by precision (Sonderby et al. 2016) if ``merge``; ``z`` is drawn from ``q`` (else
    from ``p``) by reparameterisation; then ``h <- h + f_p(h) + W z`` and a residual
    bottleneck block. Returns ``(h, z, log p(z), log q(z) or None)``, log-densities ``[n]``.
    """

    def __init__(self, width: int, middle: int, latent: int, kernel: int = 3, merge: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.width, self.middle, self.latent = int(width), int(middle), int(latent)
        self.kernel, self.merge = int(kernel), bool(merge)
        self.posterior = Bottleneck(self.middle, 2 * self.latent, residual=False, kernel=self.kernel,
                                    name="posterior")
        self.prior = Bottleneck(self.middle, 2 * self.latent + self.width, residual=False,
                                kernel=self.kernel, zero_last=True, name="prior")
        self.project = Conv2D(self.width, 1, name="project")
        self.resnet = Bottleneck(self.middle, self.width, kernel=self.kernel, zero_last=True, name="resnet")

    def build(self, input_shape):
        shape = tuple(input_shape)[:-1]
        self.posterior.build(shape + (2 * self.width,))
        self.prior.build(shape + (self.width,))
        self.project.build(shape + (self.latent,))
        self.resnet.build(shape + (self.width,))

    def call(self, h: tf.Tensor, acts: tf.Tensor | None = None,
             seed: keras.random.SeedGenerator | None = None,
             estimator: str = "total") -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | None]:
        """``estimator="path"`` stops the gradient of ``q``'s parameters inside ``log q``."""
        # split, not slices: a slice's gradient (StridedSliceGrad) pads a full-size tensor of zeros
        prior, features = tf.split(self.prior(h), [2 * self.latent, self.width], axis=-1)
        loc_p, scale_p = gaussian_params(prior)
        if acts is None:
            z = loc_p + scale_p * noise.normal(tf.shape(loc_p), seed)
            log_q = None
        else:
            loc_q, scale_q = gaussian_params(self.posterior(tf.concat([h, acts], axis=-1)))
            if self.merge:
                loc_q, scale_q = precision_weighted(loc_q, scale_q, loc_p, scale_p)
            z = loc_q + scale_q * noise.normal(tf.shape(loc_q), seed)
            loc_q, scale_q = objectives.variational_parameters((loc_q, scale_q), estimator)
            log_q = image_log_prob(z, loc_q, scale_q)
        log_p = image_log_prob(z, loc_p, scale_p)
        h = self.resnet(h + features + self.project(z))
        return h, z, log_p, log_q

    def get_config(self):
        return {**super().get_config(), "width": self.width, "middle": self.middle, "latent": self.latent,
                "kernel": self.kernel, "merge": self.merge}
