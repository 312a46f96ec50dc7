"""Where a model's randomness comes from: its ``seed`` fixes both its initial weights and its
sampling noise, on one device or many.

* **Initial weights.** Keras initializers draw their seeds from Python's ``random`` module
  when a layer is constructed, so ``IWAE(seed=0)`` in two processes would start from
  different weights. :func:`seeded_construction` runs a model's constructor with
  ``random`` seeded from the model's seed (and restores ``random``'s state afterwards), so
  the same seed gives the same initial weights in any process, whatever ran before.
  ``seed=None`` leaves Keras' behaviour (``keras.utils.set_random_seed`` then repeats runs).
* **Sampling noise under ``tf.distribute``.** :class:`ReplicaSeedGenerator` is a
  ``keras.random.SeedGenerator`` whose draws differ per replica: replica ``r`` offsets the
  seed by ``r * REPLICA_STRIDE``. Replica 0 (and a single device) draws exactly what the
  plain generator draws, so the other replicas' halves of a batch get fresh, independent
  noise and training matches single-device training in distribution.
"""
import contextlib
import functools
import inspect
import random
import threading

import keras
import tensorflow as tf

REPLICA_STRIDE = 1_000_003  # a prime far from small user seeds
_constructing = threading.local()


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A ``keras.random.SeedGenerator`` that folds the replica id into every seed it hands out."""

    def next(self, ordered=True):
        seed = super().next(ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.stack([replica * REPLICA_STRIDE, tf.zeros_like(replica)])


@contextlib.contextmanager
def python_random(seed):
    """Python's ``random`` seeded with ``seed`` inside the block, its old state back afterwards."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def seeded_construction(init):
    """Wrap a model's ``__init__`` so its layers' initializers are seeded by its ``seed`` keyword.

    Only the outermost constructor seeds (a subclass's ``super().__init__`` runs inside it).
    """
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        seed = kwargs.get("seed")
        if getattr(_constructing, "active", False) or not isinstance(seed, int):
            return init(self, *args, **kwargs)
        _constructing.active = True
        try:
            with python_random(seed):
                return init(self, *args, **kwargs)
        finally:
            _constructing.active = False

    wrapper.__signature__ = inspect.signature(init)  # Keras reads constructors' arguments
    return wrapper
