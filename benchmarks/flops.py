"""Analytic FLOP counts from layer sizes, and a cross-check against TensorFlow's own count.

Convention (the usual one, e.g. Kaplan et al. 2020, "Scaling laws", sec. 2.1):

* a dense layer on ``rows`` inputs of width ``m`` with ``n`` outputs costs ``2 rows m n``
  FLOP (one multiply and one add per weight and row); biases, activations and log-densities
  are elementwise and not counted;
* a training step costs ``3x`` its forward pass: the backward pass multiplies by the same
  weight matrices twice (gradient with respect to the inputs and to the weights). The
  first layer's input gradient is not needed (``x`` is data), so the true count is slightly
  lower; ``3x`` keeps every model on one rule.
"""


def dense(rows, sizes):
    """FLOP of an MLP with layer widths ``sizes = (in, h1, ..., out)`` applied to ``rows`` rows."""
    return sum(2 * rows * a * b for a, b in zip(sizes[:-1], sizes[1:]))


def iwae_forward(config, batch, k):
    """Forward FLOP of ``IWAE.log_weights`` for ``batch`` examples and ``k`` samples each.

    ``q(z_1 | x)`` runs once per example; every later layer (``q(z_l | z_{l-1})``, the
    priors ``p(z_l | z_{l+1})`` and ``p(x | z_1)``) runs on ``k * batch`` rows. A Gaussian
    head has two output layers (``loc``, ``log_scale``).
    """
    flop = 0
    inputs = config.input_dim
    for i, (units, hidden) in enumerate(zip(config.latent, config.hidden)):
        rows = batch if i == 0 else k * batch
        flop += dense(rows, (inputs, *hidden)) + 2 * dense(rows, (hidden[-1], units))
        inputs = units
    for i in range(config.layers - 1):  # p(z_i | z_{i+1})
        hidden, rows = config.hidden[i + 1], k * batch
        flop += dense(rows, (config.latent[i + 1], *hidden)) + 2 * dense(rows, (hidden[-1], config.latent[i]))
    flop += dense(k * batch, (config.latent[0], *config.hidden[0], config.input_dim))  # p(x | z_1)
    return flop


def iwae_step(config, batch, k):
    """Training-step FLOP: ``3 * iwae_forward``."""
    return 3 * iwae_forward(config, batch, k)


def iwae_log_likelihood(config, n, k):
    """FLOP of ``k``-sample evaluation of ``n`` examples with the encoder pass shared."""
    return iwae_forward(config, n, k)


def graph_flops(fn, *specs):
    """FLOP in the graph of ``tf.function`` ``fn`` traced for ``specs`` (static shapes).

    Returns ``(matmul, all_ops)``: ``2 m n k`` summed over the graph's MatMul ops, read off
    their actual shapes (a check that :func:`iwae_forward` counts every layer on the right
    number of rows), and TensorFlow's profiler total, which adds the elementwise ops.
    """
    import numpy as np
    import tensorflow as tf

    graph = fn.get_concrete_function(*specs).graph
    matmul = 0
    for op in graph.get_operations():
        if op.type in ("MatMul", "_FusedMatMul", "BatchMatMulV2", "BatchMatMulV3"):
            transposed = op.get_attr("transpose_a" if "Batch" not in op.type else "adj_x")
            inner = op.inputs[0].shape[-2 if transposed else -1]
            matmul += 2 * int(np.prod(op.outputs[0].shape)) * int(inner)
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    total = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
    return matmul, total
