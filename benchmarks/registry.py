"""What the benchmarks train: one :class:`TrainCase` per model configuration.

A model family joins the benchmarks by registering its cases, e.g. in this file::

    register(TrainCase("vrnn_jsb", family="vrnn", batch=20, input_shape=(T, 88), build=...,
                       data=..., step_flops=lambda model: ...))

``build()`` returns an uncompiled model; ``data(batch)`` a ``tf.data.Dataset`` of training
batches (it is repeated); ``step_flops(model)`` the analytic FLOP of one training step
(see :mod:`benchmarks.flops` for the convention), checked against the matmuls in the graph
of ``model.log_weights`` on inputs ``[batch, *input_shape]``. Cases marked ``quick`` run in
``--quick``.
"""
import dataclasses
import functools
import os
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
    optimizer: Callable = None  # () -> keras optimizer; Adam(1e-3) when None
    quick: bool = False


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


def _iwae_cases():
    from benchmarks import flops
    from zoo import iwae

    for layers in (1, 2):
        for k in (1, 5, 50):
            yield TrainCase(
                name=f"iwae_L{layers}_k{k}",
                family="iwae",
                batch=100,
                input_shape=(784,),
                build=functools.partial(iwae.IWAE, layers=layers, k=k, seed=0),
                data=binarized_mnist,
                step_flops=lambda model: flops.iwae_step(model.config, 100, model.k),
                optimizer=iwae.paper_optimizer,
                quick=(layers, k) == (1, 50),
            )


for _case in _iwae_cases():
    register(_case)
