"""Gaussian and uniform noise from a ``keras.random.SeedGenerator``, as fast under XLA as without.

Outside XLA, :func:`normal` and :func:`uniform` are ``keras.random.normal`` and
``keras.random.uniform``: the same draws for the same generator state. Under XLA
(``jit_compile=True``) those draw Philox numbers from the key and counter TensorFlow derives
from the seed (``StatelessRandomGetKeyCounter``), and XLA's CPU Philox is about 30 times
slower on such counters than TensorFlow's kernel: 150 against 4.8 CPU-ms for 250,000 normals
on one core, the noise of one IWAE k = 50 step at batch 100, and the main reason that step was
2.5 times slower under XLA (docs/benchmarks.md). Under XLA these functions draw ThreeFry
numbers (XLA's fastest generator, 5.0 CPU-ms for the same normals) through
``tf.random.stateless_normal(..., alg="threefry")`` on the generator's next seed. XLA's draws
never equal the graph's (its Philox is its own implementation), so nothing that held before
is lost; a seed still fixes the draws of each path.
"""
import keras
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # TensorFlow's own test for an XLA context


def _under_xla():
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def normal(shape, seed, dtype="float32"):
    """Standard normal noise of ``shape`` from the ``keras.random.SeedGenerator`` ``seed``."""
    if not _under_xla():
        return keras.random.normal(shape, seed=seed, dtype=dtype)
    return tf.random.stateless_normal(shape, seed.next(), dtype=dtype, alg="threefry")


def uniform(shape, seed, dtype="float32"):
    """Uniform noise on ``[0, 1)`` of ``shape`` from the ``keras.random.SeedGenerator`` ``seed``."""
    if not _under_xla():
        return keras.random.uniform(shape, seed=seed, dtype=dtype)
    return tf.random.stateless_uniform(shape, seed.next(), dtype=dtype, alg="threefry")
