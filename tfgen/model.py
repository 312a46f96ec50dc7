"""The base ``keras.Model`` of every latent-variable model in tfgen.

A subclass implements one method, :meth:`LatentVariableModel.log_weights`, returning
:class:`LogWeights`; ``compile`` / ``fit`` / ``evaluate`` / ``predict``, callbacks,
checkpoints and the metrics below then work unchanged. Training maximises the bound named
by ``objective`` (see :mod:`tfgen.objectives`), so Keras' ``loss`` is ``-bound``.

Logged metrics (one set of keys across the zoo): ``loss``, ``elbo``, ``iwae_k{k}``,
``reconstruction`` (``E_q log p(x|z)``), ``kl`` and ``kl_{layer}`` (Monte Carlo
``E_q[log q - log p]`` per stochastic layer). All are per-example averages in nats.
"""
import dataclasses
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import objectives, presets


class LogWeights(NamedTuple):
    """Log importance weights ``[k, batch]`` and the parts that make them up.

    ``log_w = log_px_z + sum_l log_pz[l] - sum_l log_qz[l]``, where ``log_pz[l]`` is the
    (conditional) prior density of stochastic layer ``l`` and ``log_qz[l]`` its variational
    density, each ``[k, batch]``, keyed by the layer's name.
    """

    log_w: tf.Tensor
    log_px_z: tf.Tensor
    log_pz: dict
    log_qz: dict

    def kl(self, layer):
        """Monte Carlo ``KL(q || p)`` of one layer, ``mean_k(log q - log p)``: ``[batch]``."""
        return tf.reduce_mean(self.log_qz[layer] - self.log_pz[layer], axis=0)


class LatentVariableModel(keras.Model):
    """Base class: fit()-compatible training of a bound over log importance weights.

    Args:
        latent_names: names of the stochastic layers, in the order ``log_weights`` reports
            them (they name the ``kl_{layer}`` metrics).
        k: importance samples per example during training and evaluation.
        objective: ``"iwae"``, ``"vae"`` or ``"elbo"`` (see :data:`tfgen.objectives.BOUNDS`).
        estimator: gradient estimator, ``"total"`` or ``"path"``.
        seed: seed of the model's sampling noise; the same seed repeats a run.
    """

    def __init__(self, latent_names, k=1, objective="iwae", estimator="total", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.k = objectives.check_k(k)
        self.objective = objective
        self.bound = objectives.get_bound(objective)
        self.estimator = objectives.check_estimator(estimator)
        self.seed = seed
        self.latent_names = tuple(latent_names)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}

    def metric_names(self):
        """Names of the metrics ``compute_loss`` tracks; a subclass with another objective overrides it."""
        return (["elbo", f"iwae_k{self.k}", "reconstruction", "kl"]
                + [f"kl_{layer}" for layer in self.latent_names])

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A compiled model of this class from a preset name, folder or URL.

        See :func:`tfgen.presets.load_preset` for ``kwargs``; the preset must hold a ``cls``.
        """
        model = presets.load_preset(preset, **kwargs)
        if not isinstance(model, cls):
            raise ValueError(f"Preset {preset!r} holds a {type(model).__name__}, not a {cls.__name__}.")
        return model

    def save_to_preset(self, directory, metadata):
        """Write this model as a preset folder; see :func:`tfgen.presets.save_to_preset`."""
        return presets.save_to_preset(self, directory, metadata)

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        """Log importance weights of ``x`` (``[batch, ...]``) with ``k`` samples each.

        Returns :class:`LogWeights` of ``[k, batch]`` tensors. ``seed`` (an int or a
        ``keras.random.SeedGenerator``) defaults to the model's own generator.
        """
        raise NotImplementedError

    def validate_inputs(self, x):
        """Raise ``ValueError`` if ``x`` (a NumPy batch) is not data this model can score."""
        raise NotImplementedError

    def call(self, x, training=False):
        return self.log_weights(x, self.k, estimator=self.estimator, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        lw = y_pred
        bound = self.bound(lw.log_w)
        kls = {layer: lw.kl(layer) for layer in self.latent_names}
        values = {
            "elbo": objectives.elbo(lw.log_w),
            f"iwae_k{self.k}": objectives.iwae(lw.log_w),
            "reconstruction": tf.reduce_mean(lw.log_px_z, axis=0),
            "kl": tf.add_n(list(kls.values())),
            **{f"kl_{layer}": kl for layer, kl in kls.items()},
        }
        for name, value in values.items():
            self.trackers[name].update_state(value, sample_weight=sample_weight)
        loss = -tf.reduce_mean(bound)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return scale_for_replicas(loss)

    def predict_step(self, data):
        """Per-example bound (the model's objective with its k), shape ``[batch]``."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.bound(self.log_weights(x, self.k).log_w)

    @property
    def metrics(self):
        return super().metrics + list(self.trackers.values())

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_data(x)
        if "validation_data" in kwargs and kwargs["validation_data"] is not None:
            self._check_data(kwargs["validation_data"])
        if isinstance(x, tf.data.Dataset) and not args:
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras warns otherwise
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_data(x)
        return super().evaluate(x, y, *args, **kwargs)

    def _check_data(self, x):
        """Validate NumPy/tensor data fully, a ``tf.data.Dataset`` by its first batch."""
        if isinstance(x, tuple):
            x = x[0]
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                batch = batch[0] if isinstance(batch, tuple) else batch
                self._check_batch(np.asarray(batch))
        elif x is not None:
            self._check_batch(np.asarray(x))

    def _check_batch(self, x):
        if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
            raise ValueError(f"Data must be numeric, got dtype {x.dtype}.")
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            raise ValueError(
                f"Data contains {int(np.sum(~np.isfinite(x)))} NaN or infinite values; "
                "clean or impute them before training."
            )
        self.validate_inputs(x)


def scale_for_replicas(loss):
    """``loss / replicas``, as Keras' own losses: the replicas' gradients are summed and Keras
    logs the loss multiplied back (1 replica: unchanged)."""
    return loss / tf.distribute.get_strategy().num_replicas_in_sync


class DataclassConfig:
    """``get_config`` / ``from_config`` for a model whose hyper-parameters are ``self.config``,
    a dataclass whose fields are the model's keyword arguments. Mix in before the model base."""

    def get_config(self):
        return {"name": self.name, **dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def check_flat_inputs(model, x, input_dim):
    """Raise ``ValueError`` unless ``x`` is ``[batch, input_dim]``."""
    if x.ndim != 2 or x.shape[-1] != input_dim:
        raise ValueError(
            f"{type(model).__name__} expects flat inputs of shape (batch, {input_dim}), got {x.shape}. "
            "Flatten images first, e.g. x.reshape(len(x), -1)."
        )
