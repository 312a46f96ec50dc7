"""Analytic FLOP counts from layer sizes, and a cross-check against TensorFlow's own count.

Convention (the usual one, e.g. Kaplan et al. 2020, "Scaling laws", sec. 2.1):

* a dense layer on ``rows`` inputs of width ``m`` with ``n`` outputs costs ``2 rows m n``
  FLOP (one multiply and one add per weight and row); biases, activations and log-densities
  are elementwise and not counted;
* an LSTM cell (input width ``m``, ``u`` units) on ``rows`` rows is two dense layers with
  ``4u`` outputs (the four gates): ``2 rows (m + u) 4u``; its gate nonlinearities and
  products are elementwise and not counted;
* a 2-D convolution costs ``2 out_h out_w k_h k_w c_in c_out`` per example (one multiply
  and one add per weight and output position, "same" padding's zeros included); a 1x1
  convolution is the case ``k_h = k_w = 1``, and a transposed convolution costs what the
  convolution it transposes costs (``2 in_h in_w k_h k_w c_in c_out``, ``in`` its input);
  pooling, nearest-neighbour upsampling and other elementwise ops are not counted;
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
    if config.encoder != "mlp" or config.decoder != "mlp":
        raise ValueError("The FLOP formula covers MLP encoders and decoders (Burda et al.'s architecture).")
    flop = 0
    inputs = config.dims
    for i, (units, hidden) in enumerate(zip(config.latent, config.hidden)):
        rows = batch if i == 0 else k * batch
        flop += dense(rows, (inputs, *hidden)) + 2 * dense(rows, (hidden[-1], units))
        inputs = units
    for i in range(config.layers - 1):  # p(z_i | z_{i+1})
        hidden, rows = config.hidden[i + 1], k * batch
        flop += dense(rows, (config.latent[i + 1], *hidden)) + 2 * dense(rows, (hidden[-1], config.latent[i]))
    decoder = tuple(reversed(config.hidden[0]))
    flop += dense(k * batch, (config.latent[0], *decoder, config.dims))  # p(x | z_1)
    return flop


def iwae_step(config, batch, k):
    """Training-step FLOP: ``3 * iwae_forward``."""
    return 3 * iwae_forward(config, batch, k)


def iwae_log_likelihood(config, n, k):
    """FLOP of ``k``-sample evaluation of ``n`` examples with the encoder pass shared."""
    return iwae_forward(config, n, k)


def lstm(rows, inputs, units):
    """FLOP of one LSTM cell step on ``rows`` rows: input and recurrent kernels, 4 gates each."""
    return dense(rows, (inputs, 4 * units)) + dense(rows, (units, 4 * units))


def vrnn_forward(config, batch, steps, k):
    """Forward FLOP of ``VRNN.log_weights`` for ``batch`` sequences of ``steps`` steps, ``k`` particles.

    ``phi_x`` runs once per frame (``batch * steps`` rows, outside the time loop); every
    step runs on ``k * batch`` rows: ``q(z_t | phi_x, h)`` and ``p(z_t | h)`` (one hidden
    layer, ``loc`` and ``log_scale`` heads), ``phi_z``, the emission (one hidden layer on
    ``[phi_z, h]``; one logits head, or ``loc`` and ``log_scale`` for the Gaussian) and the
    LSTM on ``[phi_x, phi_z]``. Padded steps are computed (and masked), so they count.
    FIVO's resampling (gathers) and the log-densities are not counted.
    """
    f, u, z, d = config.features, config.rnn_units, config.latent, config.input_dim
    rows = k * batch
    heads = 1 if config.likelihood == "bernoulli" else 2
    per_step = (dense(rows, (f + u, f)) + 2 * dense(rows, (f, z))  # q(z_t | x_t, h_{t-1})
                + dense(rows, (u, f)) + 2 * dense(rows, (f, z))  # p(z_t | h_{t-1})
                + dense(rows, (z, f))  # phi_z
                + dense(rows, (f + u, f)) + heads * dense(rows, (f, d))  # p(x_t | z_t, h_{t-1})
                + lstm(rows, 2 * f, u))
    return dense(batch * steps, (d, f, f)) + steps * per_step


def vrnn_step(config, batch, steps, k):
    """Training-step FLOP: ``3 * vrnn_forward`` (FIVO's step has the same matmuls)."""
    return 3 * vrnn_forward(config, batch, steps, k)


def conv2d(rows, size, kernel, c_in, c_out):
    """FLOP of a stride-1 "same" ``kernel x kernel`` convolution on ``rows`` ``size x size`` images."""
    return 2 * rows * size * size * kernel * kernel * c_in * c_out


def bottleneck(rows, size, kernel, c_in, middle, c_out):
    """FLOP of :class:`tfgen.blocks.Bottleneck`: 1x1, two ``kernel x kernel``, 1x1 convolutions."""
    return (conv2d(rows, size, 1, c_in, middle) + 2 * conv2d(rows, size, kernel, middle, middle)
            + conv2d(rows, size, 1, middle, c_out))


def topdown_forward(config, batch, k):
    """Forward FLOP of ``TopDownVAE.log_weights`` (:mod:`zoo.distortion`) for ``batch`` images.

    Everything runs on ``k * batch`` images (the images are tiled ``k`` times before the
    encoder): the 3x3 stem, the encoder's residual blocks per resolution, and per latent
    group (at its resolution ``r``, kernel 3 above 2x2, else 1) the prior block
    (``width -> 2 latent + width`` channels), the posterior block (``[h, acts]``, ``2 width ->
    2 latent``), the 1x1 projection of ``z`` and the residual block; then the 1x1 output
    convolution at full resolution. Average pooling, upsampling (``tf.repeat``) and the
    precision-weighted merge are elementwise and not counted.
    """
    c = config
    rows, size, channels = k * batch, c.image_shape[0], c.image_shape[-1]
    w, mid, lat = c.width, c.bottleneck, c.latent_channels
    flop = conv2d(rows, size, 3, channels, w)  # stem
    for r, blocks, layers in zip(c.resolutions, c.encoder_blocks, c.latent_layers):
        kernel = 3 if r > 2 else 1
        flop += blocks * bottleneck(rows, r, kernel, w, mid, w)
        flop += layers * (bottleneck(rows, r, kernel, w, mid, 2 * lat + w)  # prior
                          + bottleneck(rows, r, kernel, 2 * w, mid, 2 * lat)  # posterior
                          + conv2d(rows, r, 1, lat, w)  # projection of z
                          + bottleneck(rows, r, kernel, w, mid, w))  # residual block
    return flop + conv2d(rows, size, 1, w, channels)  # output mean


def topdown_step(config, batch, k):
    """Training-step FLOP: ``3 * topdown_forward``."""
    return 3 * topdown_forward(config, batch, k)


_LOOPS = ("While", "StatelessWhile")
_CALLS = ("PartitionedCall", "StatefulPartitionedCall")


def _op_flops(op):
    """``2 x`` multiply-adds of one matmul or convolution op, from its static shapes (else 0)."""
    import numpy as np

    def size(shape):
        if not shape.is_fully_defined():
            raise ValueError(f"{op.type} op {op.name} has a partly unknown shape {shape}; trace with "
                             "static shapes.")
        return int(np.prod(shape))

    if op.type in ("MatMul", "_FusedMatMul", "BatchMatMulV2", "BatchMatMulV3"):
        transposed = op.get_attr("transpose_a" if "Batch" not in op.type else "adj_x")
        return 2 * size(op.outputs[0].shape) * int(op.inputs[0].shape[-2 if transposed else -1])
    if op.type in ("Conv2D", "_FusedConv2D"):  # filter [k_h, k_w, c_in, c_out]
        k_h, k_w, c_in, _ = op.inputs[1].shape
        return 2 * size(op.outputs[0].shape) * k_h * k_w * c_in
    if op.type == "Conv2DBackpropInput":  # a transposed convolution: input 2 is its input
        k_h, k_w, c_out, _ = op.inputs[1].shape
        return 2 * size(op.inputs[2].shape) * k_h * k_w * c_out
    if op.type == "DepthwiseConv2dNative":
        k_h, k_w = op.inputs[1].shape[:2]
        return 2 * size(op.outputs[0].shape) * k_h * k_w
    return 0


def _graph_multiply_adds(graph, loop_trips):
    """Sum of :func:`_op_flops` over ``graph``, into function calls and loop bodies."""
    total = 0
    for op in graph.get_operations():
        if op.type in _LOOPS:
            if loop_trips is None:
                raise ValueError(f"The graph has a while loop ({op.name}); pass its trip count as "
                                 "loop_trips to count its body.")
            body = graph._get_function(op.get_attr("body").name).graph
            total += loop_trips * _graph_multiply_adds(body, loop_trips)
        elif op.type in _CALLS:
            total += _graph_multiply_adds(graph._get_function(op.get_attr("f").name).graph, loop_trips)
        else:
            total += _op_flops(op)
    return total


def graph_flops(fn, *specs, loop_trips=None):
    """FLOP in the graph of ``tf.function`` ``fn`` traced for ``specs`` (static shapes).

    Returns ``(matmul, all_ops)``: ``2 x`` the multiply-adds of the graph's matmul and
    convolution ops (``MatMul``, ``BatchMatMul``, ``Conv2D``, ``Conv2DBackpropInput``,
    ``DepthwiseConv2dNative``), read off their actual shapes (a check that the analytic
    counts above count every layer on the right number of rows), and TensorFlow's profiler
    total, which adds the elementwise ops of the outer graph (not of loop bodies).
    A while loop's body (the VRNN's time loop) counts ``loop_trips`` times; its
    trip count is not in the graph's static shapes, so the caller states it.
    """
    import tensorflow as tf

    graph = fn.get_concrete_function(*specs).graph
    matmul = _graph_multiply_adds(graph, loop_trips)
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    total = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
    return matmul, total
