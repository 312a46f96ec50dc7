"""Latent-variable models of images composed of blocks: encoder, decoder, likelihood.

:class:`ImageModel` is a mixin for a :class:`tfgen.model.LatentVariableModel` whose config
is a :class:`tfgen.config.ImageConfig`. It builds

* ``self.encoder``: network ``x [batch, h*w*c] -> features`` (:func:`tfgen.layers.network`:
  an MLP, or a :class:`~tfgen.layers.ConvEncoder`),
* ``self.decoder``: network ``z -> features`` (MLP or :class:`~tfgen.layers.ConvDecoder`),
* ``self.likelihood``: head ``features -> p(x | z)`` over the flattened image
  (:func:`tfgen.layers.likelihood`: Bernoulli, Gaussian with learned or fixed scale),

and gives every image model the same input handling (flat ``[batch, h*w*c]`` or image
``[batch, h, w, c]`` data, checked against the likelihood), :meth:`~ImageModel.decode` (a
``tfd.Distribution`` users can sample or score), and :meth:`~ImageModel.adapt` (the output
bias started at the data mean, as Burda et al. 2016 do).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfgen import data_checks, layers


class ImageModel:
    """Mixin: image input handling and the encoder / decoder / likelihood blocks of ``self.config``."""

    def make_blocks(self, encoder_hidden: Sequence[int], decoder_hidden: Sequence[int]) -> None:
        """Create the three blocks; ``*_hidden`` are the networks' hidden sizes (an MLP's layers,
        or the dense layer of a convolutional network)."""
        c = self.config
        self.encoder = layers.network(c.encoder, "encoder", c.image_shape, encoder_hidden, c.activation)
        self.decoder = layers.network(c.decoder, "decoder", c.image_shape, decoder_hidden, c.activation)
        channels = c.image_shape[-1] if c.decoder == "conv" else None
        self.likelihood = layers.likelihood(c.likelihood, c.dims, channels, scale=c.likelihood_scale)

    def build_blocks(self, latent: int) -> int:
        """Build the blocks (and a score-function baseline, if the estimator has one) for
        ``latent`` units feeding the decoder; return the encoder's width."""
        dims = self.config.dims
        layers.build_once(self.encoder, (None, dims))
        layers.build_once(self.decoder, (None, latent))
        layers.build_once(self.likelihood, self.decoder.compute_output_shape((None, latent)))
        if self.baseline is not None:  # last: the model's own initial weights do not depend on it
            layers.build_once(self.baseline, (None, dims))
        return self.encoder.compute_output_shape((None, dims))[-1]

    def inference_variables(self) -> list:
        """The variables of ``q(z | x)``: the encoder network's and the posterior heads'
        (``self.posteriors``)."""
        return self.encoder.trainable_variables + [v for q in self.posteriors for v in q.trainable_variables]

    def flat(self, x: tf.Tensor) -> tf.Tensor:
        """``x`` as float32 rows ``[batch, h*w*c]`` (float32 log-densities under mixed precision too)."""
        x = tf.cast(x, self.variable_dtype)
        return tf.reshape(x, [tf.shape(x)[0], self.config.dims])

    def decode(self, z: tf.Tensor) -> tfp.distributions.Distribution:
        """``p(x | z)`` as a ``tfd.Distribution``: batch shape ``z``'s leading axes, event
        ``[h*w*c]`` (flattened pixels; reshape samples to ``config.image_shape``)."""
        return self.likelihood.distribution(*self.likelihood(self.decoder(z)))

    def log_likelihood(self, x: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
        """``log p(x | z)`` summed over pixels, ``[..., batch]`` for ``z [..., batch, latent]``
        (the fused form of ``decode(z).log_prob(x)``)."""
        return self.likelihood.log_prob(x, *self.likelihood(self.decoder(z)))

    def mean_image(self, z: tf.Tensor) -> tf.Tensor:
        """The likelihood's mean ``E[x | z]``, ``[..., h*w*c]``."""
        return self.likelihood.mean(*self.likelihood(self.decoder(z)))

    def reconstruct(self, x: tf.Tensor | np.ndarray, seed: int | None = None) -> tf.Tensor:
        """Mean images ``E[x | z_1]`` at the posterior means ``z_1 = E_q[z_1 | x]``: ``[batch, h*w*c]``.

        Deterministic (``seed`` is not used; it is there for the models whose reconstructions
        are sampled). The subclass's ``encode(x)`` gives ``q(z_1 | x)``'s ``(loc, scale)``.
        """
        return self.mean_image(self.encode(x)[0])

    def adapt(self, data: tf.data.Dataset | np.ndarray) -> None:
        """Start the likelihood's output bias at the mean of ``data`` (Burda et al. 2016, sec. 5:
        the logit of the training mean for a Bernoulli likelihood; the mean for a Gaussian).

        ``data``: an array of images (flat or not) or a ``tf.data.Dataset`` of such batches;
        checked like training data first.
        """
        if isinstance(data, tf.data.Dataset):
            total, count = 0.0, 0
            for batch in data:
                batch = batch[0] if isinstance(batch, tuple) else batch
                self.check_data(batch.numpy())
                rows = tf.reshape(tf.cast(batch, "float64"), [tf.shape(batch)[0], -1])
                total += tf.reduce_sum(rows, axis=0).numpy()
                count += int(rows.shape[0])
            mean = total / count
        else:
            data = np.asarray(data)
            self.check_data(data)
            mean = data.reshape(len(data), -1).astype("float64").mean(axis=0)
        if not self.built:
            self.build()
        self.likelihood.set_bias_from_mean(mean)

    def validate_inputs(self, x: np.ndarray) -> None:
        if isinstance(x, dict):
            raise ValueError(data_checks.tfds_hint(sorted(x)))
        shape, c = tuple(x.shape[1:]), self.config
        if tuple(x.shape) in ((c.dims,), tuple(c.image_shape)):
            raise ValueError(f"{type(self).__name__} got one example of shape {x.shape}, not a batch: batch "
                             "the data first (dataset.batch(n), or x[None] for a single image).")
        if x.ndim < 2 or shape not in ((c.dims,), tuple(c.image_shape)):
            raise ValueError(
                f"{type(self).__name__} expects images of shape "
                f"(batch, {', '.join(map(str, c.image_shape))}) "
                f"or flat (batch, {c.dims}), got {x.shape}."
            )
        self.likelihood.validate(x)

    def batch_conditions(self, x):
        """Finite values, and binary ones for a Bernoulli likelihood (traced, every batch)."""
        conditions = super().batch_conditions(x)
        if self.config.likelihood == "bernoulli":
            conditions.append((data_checks.all_binary(x), data_checks.NOT_BINARY))
        return conditions
