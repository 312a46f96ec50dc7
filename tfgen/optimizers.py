"""Adam with TensorFlow's fused update kernel: the optimizer every zoo model trains with.

``keras.optimizers.Adam`` writes each variable's update as about twenty elementwise ops
(Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1 with the
bias correction folded into the step size)::

    m <- m + (1 - beta_1) (g - m)
    v <- v + (1 - beta_2) (g^2 - v)
    w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

:class:`Adam` runs the same update as one ``ResourceApplyAdam`` op per variable, the kernel
``tf.compat.v1.train.AdamOptimizer`` used; XLA compiles it too. On a small model the
optimizer is much of the step: the VAE's batch-20 ``fit()`` step (784-200-200-50, 12
variables) takes 2.35 instead of 2.73 CPU-ms, the hierarchical ``TopDownVAE``'s 71.5 instead
of 75.7; steps of a few large matmuls hardly change (IWAE k = 5: 8.1 against 8.3). One
thread, medians of five interleaved rounds (docs/benchmarks.md, "The optimizer").

Everything else is Keras': the learning rate and its schedules, gradient clipping,
``get_config``, saving. Sparse gradients (``tf.IndexedSlices``) and ``amsgrad=True`` take
Keras' own update.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfgen import backend  # noqa: F401  (checks the Keras backend)


@keras.saving.register_keras_serializable(package="tfgen")
class Adam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (same arguments, same update) with the fused kernel; see the
    module docstring."""

    def update_step(self, gradient, variable, learning_rate):
        if isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index].value, self._velocities[index].value
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle, beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))
