"""What the benchmarks train: one :class:`TrainCase` per model configuration.

A model family joins the benchmarks by registering its cases, e.g. in this file::

    register(TrainCase("vrnn_jsb_elbo_k1", family="vrnn", batch=16, input_shape=(64, 88),
                       build=..., data=..., step_flops=lambda model: ..., loop_trips=64))

``build()`` returns an uncompiled model; ``data(batch)`` a ``tf.data.Dataset`` of training
batches of one fixed shape (it is repeated); ``step_flops(model)`` the analytic FLOP of one
training step (see :mod:`benchmarks.flops` for the convention), checked against the matmuls
and convolutions in the graph of ``model.log_weights`` on inputs ``[batch, *input_shape]``
(a while loop in that graph counts ``loop_trips`` times). ``optimizer()`` returns the
optimizer, or ``(optimizer, dual_optimizer)`` for a :class:`tfgen.lagrangian.ConstrainedModel`.
``peer`` names the plain PyTorch implementation of the same model and step
(:mod:`benchmarks.peer`), timed interleaved with ours. Cases marked ``quick`` run in ``--quick``.

Registered: the IWAE (1 and 2 layers, k = 1, 5, 50, batch 100, binarized MNIST; and the 1-layer
k = 50 path-derivative model at batches 20 and 100), the VRNN
(JSB Chorales, ELBO k = 1, IWAE and FIVO k = 4, batch 16, the sizes of docs/vrnn.md) and the
hierarchical model (``zoo.distortion.TopDownVAE``, the CPU layout on 28x28 Fashion-MNIST,
batch 32, as docs/distortion.md trained it).
"""
import dataclasses
import functools
import os
import re
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class TrainCase:
    name: str
    family: str
    batch: int
    input_shape: tuple
    build: Callable
    data: Callable
    step_flops: Callable
    optimizer: Callable = None  # () -> optimizer or (optimizer, dual_optimizer); tfgen's Adam(1e-3) when None
    quick: bool = False
    loop_trips: int = None  # trip count of a while loop in the log_weights graph
    peer: dict = None  # the PyTorch peer, {"module": ..., **make_step kwargs} (benchmarks.peer)


REGISTRY = {}


def register(case):
    if case.name in REGISTRY:
        raise ValueError(f"A benchmark case named {case.name!r} is already registered.")
    REGISTRY[case.name] = case
    return case


def binarized_mnist(batch):
    """Binarized MNIST training batches through :func:`tfgen.data.load` (the users' pipeline).

    Without ``$TFGEN_DATA_DIR`` the benchmark still runs, on random binary images of the same
    shape (speed does not depend on the pixel values); the result records which was used.
    """
    import tensorflow as tf

    from tfgen import data

    if os.environ.get(data.DATA_DIR_ENV):
        return data.load("binarized_mnist", "train", batch_size=batch, seed=0)
    x = (np.random.default_rng(0).random((10 * batch, 784)) < 0.13).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


def iwae_case(layers, k, batch, objective="iwae", estimator="total", **fields):
    """The IWAE / VAE of Burda et al. (2016) with ``layers`` stochastic layers, trained on
    binarized MNIST at ``batch`` with ``k`` samples, named ``{objective}_L{layers}_k{k}`` (with
    ``_b{batch}`` unless the batch is 100; ``_path_b{batch}`` for the path-derivative estimator)."""
    from zoo import iwae

    suffix = f"_path_b{batch}" if estimator == "path" else "" if batch == 100 else f"_b{batch}"
    name = f"{objective}_L{layers}_k{k}{suffix}"
    return TrainCase(
        name=name,
        family="iwae",
        batch=batch,
        input_shape=(784,),
        build=functools.partial(iwae.IWAE, layers=layers, k=k, objective=objective, estimator=estimator,
                                seed=0),
        data=binarized_mnist,
        step_flops=functools.partial(_iwae_flops, batch=batch),
        optimizer=iwae.paper_optimizer,
        **fields,
    )


def named(name):
    """The registered case ``name``, or an IWAE case named as :func:`iwae_case` names them
    (``iwae_L2_k5_b20``: the grids of :mod:`benchmarks.xla_grid`); raises ``ValueError`` otherwise."""
    if name in REGISTRY:
        return REGISTRY[name]
    number = r"([1-9]\d*)"
    match = re.fullmatch(rf"(iwae|vae)_L{number}_k{number}(?:_path_b{number}|_b{number})?", name)
    case = None
    if match:
        objective, layers, k, path_batch, batch = match.groups()
        case = iwae_case(int(layers), int(k), int(path_batch or batch or 100), objective,
                         "path" if path_batch else "total")
    if case is None or case.name != name:  # e.g. "iwae_L1_k50_b100" is "iwae_L1_k50"
        raise ValueError(f"Unknown benchmark case {name!r}: registered are {', '.join(sorted(REGISTRY))}, "
                         "and any IWAE named {iwae|vae}_L{layers}_k{k}[_b{batch}|_path_b{batch}].")
    return case


def same(a, b):
    """Whether the cases ``a`` and ``b`` build and train the same model: same name, batch, data
    and ``build`` (a ``functools.partial`` compared by function and arguments)."""
    def key(case):
        build = case.build
        if isinstance(build, functools.partial):
            build = (build.func, build.args, sorted(build.keywords.items()))
        return case.name, case.batch, case.data, build

    return a is b or key(a) == key(b)


def _iwae_cases():
    # Batch 100 (our presets) at k = 1, 5, 50; batch 20 as Burda et al. train (sec. 5).
    grid = [(layers, "iwae", k, 100) for layers in (1, 2) for k in (1, 5, 50)]
    grid += [(1, "iwae", 50, 20), (1, "vae", 1, 20)]
    for layers, objective, k, batch in grid:
        peer = {"module": "torch_iwae", "k": k, "objective": objective} if layers == 1 else None
        yield iwae_case(layers, k, batch, objective, quick=(layers, k, batch) == (1, 50, 100), peer=peer)
    # The batch-size choice of the long IWAE k = 50 runs (docs/results.md): CPU time per epoch of
    # 50,000 images is ms_per_step x 50,000 / batch, with 5x the updates at batch 20.
    for batch in (20, 100):
        yield iwae_case(1, 50, batch, estimator="path")


def _iwae_flops(model, batch):
    from benchmarks import flops

    return flops.iwae_step(model.config, batch, model.k)


JSB_STEPS = 64  # steps per benchmark sequence (JSB training chorales: 25..129 steps, mean 60)


def jsb_windows(batch, steps=JSB_STEPS):
    """JSB Chorales training chorales cut to their first ``steps`` steps, ``{"frames", "mask"}``.

    Shorter chorales are zero padded and masked, as :mod:`tfgen.sequences` pads them; every
    batch has the same shape ``[batch, steps, 88]`` (incomplete batches dropped), so one
    trace and one FLOP count serve the whole run. Users' training batches
    (``tfgen.sequences.epoch_batches``) are bucketed by length and vary in ``T``; a step's cost
    is linear in ``T``. Without ``$TFGEN_DATA_DIR``: random piano rolls of the same shape
    with JSB's density (about 4 of 88 keys per step).
    """
    import tensorflow as tf

    from tfgen import data, sequences

    if os.environ.get(data.DATA_DIR_ENV):
        frames, lengths = sequences.pad([roll[:steps] for roll in sequences.load_jsb_rolls("train")])
        frames = np.pad(frames, [(0, 0), (0, steps - frames.shape[1]), (0, 0)])
    else:
        frames = (np.random.default_rng(0).random((229, steps, sequences.PIANO_KEYS)) < 0.045)
        frames, lengths = frames.astype("float32"), np.full(len(frames), steps)
    rolls = {"frames": frames, "mask": sequences.mask_from_lengths(lengths, steps)}
    return (tf.data.Dataset.from_tensor_slices(rolls).shuffle(len(frames), seed=0)
            .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def _vrnn_cases():
    from zoo import vrnn

    # Our sizes (the cpu configuration, docs/vrnn.md: batch 16, Adam 1e-3), and Maddison et al.'s
    # reference code's defaults (the maddison2017 configuration: FIVO, 4 particles, batch 4,
    # Adam 2e-4).
    grid = [("cpu", objective, k, 16, 1e-3) for objective, k in (("elbo", 1), ("iwae", 4), ("fivo", 4))]
    grid += [("maddison2017", "fivo", 4, 4, 2e-4)]
    for config, objective, k, batch, learning_rate in grid:
        fields = vrnn.VRNN.configs.get(config, objective=objective, k=k)
        yield TrainCase(
            name=f"vrnn_jsb_{objective}_k{k}" + ("" if config == "cpu" else f"_{config}"),
            family="vrnn",
            batch=batch,
            input_shape=(JSB_STEPS, 88),  # 88 piano keys
            build=functools.partial(vrnn.VRNN.from_config_name, config, objective=objective, k=k, seed=0),
            data=jsb_windows,
            step_flops=functools.partial(_vrnn_flops, batch=batch),
            optimizer=functools.partial(vrnn.paper_optimizer, learning_rate),
            loop_trips=JSB_STEPS,
            peer={"module": "torch_vrnn", "objective": objective, "k": k, "rnn_units": fields.rnn_units,
                  "latent": fields.latent, "features": fields.features, "learning_rate": learning_rate,
                  "resample_threshold": fields.resample_threshold},
        )


def _vrnn_flops(model, batch):
    from benchmarks import flops

    return flops.vrnn_step(model.config, batch, JSB_STEPS, model.k)


def fashion_mnist(batch):
    """Fashion-MNIST training batches, ``uint8 [batch, 28, 28, 1]``, through :func:`tfgen.data.stream`
    (as ``tfgen train distortion`` reads them); random pixels of the same shape without
    ``$TFGEN_DATA_DIR``."""
    import tensorflow as tf

    from tfgen import data

    if os.environ.get(data.DATA_DIR_ENV):
        return data.stream("fashion_mnist", "train", batch_size=batch, seed=0)
    x = np.random.default_rng(0).integers(0, 256, (10 * batch, 28, 28, 1), dtype="uint8")
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


def _distortion_cases():
    from benchmarks import flops
    from zoo import distortion

    layout = distortion.TopDownVAE.configs.get("cpu28")
    yield TrainCase(
        name="distortion_fmnist_cpu",
        family="distortion",
        batch=32,
        input_shape=(28, 28, 1),
        build=lambda: distortion.TopDownVAE.from_config_name("cpu28", gamma=10.0, seed=0),
        data=fashion_mnist,
        step_flops=lambda model: flops.topdown_step(model.config, 32, model.k),
        optimizer=distortion.paper_optimizers,
        peer={"module": "torch_topdown", "gamma": 10.0, **{name: getattr(layout, name) for name in (
            "resolutions", "latent_layers", "encoder_blocks", "width", "bottleneck", "latent_channels")}},
    )


for _cases in (_iwae_cases, _vrnn_cases, _distortion_cases):
    for _case in _cases():
        register(_case)
