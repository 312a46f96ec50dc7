"""The base ``keras.Model`` of every latent-variable model in tfgen.

A subclass implements :meth:`LatentVariableModel.log_weights`, returning :class:`LogWeights`;
``compile`` / ``fit`` / ``evaluate`` / ``predict``, callbacks, checkpoints and the metrics
below then work unchanged. Two hooks separate what is *logged* from what is *maximised*:

* :meth:`~LatentVariableModel.track` gives the metrics (per-example values) that the Keras
  metric trackers average;
* :meth:`~LatentVariableModel.objective` gives the per-example value training maximises;
  by default the bound named at construction (:mod:`tfgen.objectives`), so Keras' ``loss``
  is ``-bound``. FIVO and the constrained models (:mod:`tfgen.lagrangian`) override only it.

Logged metrics (one set of keys across the zoo, per-example averages in nats): ``loss``,
``elbo``, ``iwae_k{k}``, ``reconstruction`` (``E_q log p(x|z)``), ``kl`` and ``kl_{layer}``
(Monte Carlo ``E_q[log q - log p]`` per stochastic layer); families add their own
(``fivo_k{k}``, ``rate``, ``distortion``, ``mmd``, multipliers ``lambda_{constraint}``).

Hyper-parameters live in a dataclass (``config_class``, see :mod:`tfgen.config`) whose fields
are the model's keyword arguments; ``get_config`` is Keras' own (name, trainable, dtype
policy) plus those fields, so every model round-trips through ``from_config`` and ``.keras``
files. Sampling noise comes from the model's ``seed_generator`` (see :meth:`seed_stream`).
"""
import dataclasses
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import backend, distribute, objectives, presets  # noqa: F401  (backend: checks the Keras backend)

KERAS_ARGUMENTS = ("name", "trainable", "dtype")


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


def log_weights_of(outputs):
    """The :class:`LogWeights` in a model's outputs: the outputs themselves, or their
    ``log_weights`` field (models whose ``call`` returns more, e.g. FIVO's filter)."""
    return outputs if isinstance(outputs, LogWeights) else outputs.log_weights


class LatentVariableModel(keras.Model):
    """Base class: fit()-compatible training of a bound over log importance weights.

    Args:
        latent_names: names of the stochastic layers, in the order ``log_weights`` reports
            them (they name the ``kl_{layer}`` metrics).
        k: importance samples per example during training and evaluation.
        bound: the bound trained, a key of :data:`tfgen.objectives.BOUNDS`.
        estimator: gradient estimator, a key of :data:`tfgen.objectives.ESTIMATORS`.
        seed: seed of the model's sampling noise.
        **kwargs: Keras' ``name``, ``trainable``, ``dtype``.

    Subclasses set ``config_class`` (their hyper-parameter dataclass) and ``configs`` (a
    :class:`tfgen.config.Registry` of named configurations) and build ``self.config`` with
    :meth:`configure`.
    """

    config_class = None
    configs = None
    config = None

    def __init__(self, latent_names, k=1, bound="iwae", estimator="total", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.k = objectives.check_k(k)
        self.bound_name = bound
        self.bound = objectives.get_bound(bound)
        self.estimator = objectives.check_estimator(estimator)
        self.seed = seed
        self.latent_names = tuple(latent_names)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}

    # --- configuration -----------------------------------------------------------------------
    @classmethod
    def configure(cls, fields):
        """``(config, keras_kwargs)``: ``fields`` split into the model's ``config_class`` and
        Keras' own arguments (``trainable``, ``dtype``). Raises ``ValueError`` on bad values."""
        keras_kwargs = {key: fields.pop(key) for key in KERAS_ARGUMENTS if key in fields}
        known = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"{cls.__name__} has no hyper-parameter {', '.join(map(repr, unknown))}; "
                             f"its fields are {sorted(known)}.")
        return cls.config_class(**fields), keras_kwargs

    @classmethod
    def from_config_name(cls, name, **overrides):
        """The model of the named configuration ``name`` (see ``cls.configs``), fields overridden."""
        keras_kwargs = {key: overrides.pop(key) for key in KERAS_ARGUMENTS if key in overrides}
        return cls(**dataclasses.asdict(cls.configs.get(name, **overrides)), **keras_kwargs)

    def get_config(self):
        config = super().get_config()  # name, trainable and the dtype policy
        if dataclasses.is_dataclass(self.config):
            config.update(dataclasses.asdict(self.config))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # --- presets -------------------------------------------------------------------------------
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

    # --- the model -----------------------------------------------------------------------------
    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        """Log importance weights of ``x`` (``[batch, ...]``) with ``k`` samples each.

        Returns :class:`LogWeights` of ``[k, batch]`` tensors. ``seed``: see :meth:`seed_stream`.
        """
        raise NotImplementedError

    def seed_stream(self, seed=None):
        """The ``keras.random.SeedGenerator`` a draw uses: the model's own for ``None`` (it
        advances, as in training), a new one for an int (the same draws every call), or
        ``seed`` itself if it is a generator."""
        if seed is None:
            return self.seed_generator
        if isinstance(seed, keras.random.SeedGenerator):
            return seed
        return keras.random.SeedGenerator(int(seed))

    def call(self, x, training=False):
        return self.log_weights(x, self.k, estimator=self.estimator, training=training)

    # --- what is maximised and what is logged --------------------------------------------------
    def metric_names(self):
        """Names of the metrics :meth:`track` returns (their trackers are made at construction)."""
        return (["elbo", f"iwae_k{self.k}", "reconstruction", "kl"]
                + [f"kl_{layer}" for layer in self.latent_names])

    def bound_of(self, outputs):
        """The per-example training bound ``[batch]`` of ``outputs`` (the result of ``call``)."""
        return self.bound(log_weights_of(outputs).log_w)

    def objective(self, outputs):
        """The per-example value training maximises, ``[batch]``: :meth:`bound_of` by default."""
        return self.bound_of(outputs)

    def track(self, outputs):
        """``{metric: per-example values [batch] or a batch scalar}`` logged by fit/evaluate."""
        lw = log_weights_of(outputs)
        kls = {layer: lw.kl(layer) for layer in self.latent_names}
        return {
            "elbo": objectives.elbo(lw.log_w),
            f"iwae_k{self.k}": objectives.iwae(lw.log_w),
            "reconstruction": tf.reduce_mean(lw.log_px_z, axis=0),
            "kl": tf.add_n(list(kls.values())),
            **{f"kl_{layer}": kl for layer, kl in kls.items()},
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``-mean(sample_weight * objective)`` plus any ``add_loss`` terms, scaled for replicas;
        updates the trackers with :meth:`track` (weighted by ``sample_weight``)."""
        weights = None if sample_weight is None else tf.reshape(tf.cast(sample_weight, "float32"), [-1])
        for name, value in self.track(y_pred).items():
            value = tf.convert_to_tensor(value)
            self.trackers[name].update_state(value, sample_weight=weights if value.shape.rank else None)
        value = self.objective(y_pred)
        if weights is not None:
            value = value * tf.cast(weights, value.dtype)
        loss = -tf.reduce_mean(value)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return scale_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The logs of a step; rank 1 across several workers, where Keras 3 averages each
        worker's logs along axis 0 and a scalar has none (tensorflow/tensorflow#72388)."""
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        if distribute.workers() > 1:
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def predict_step(self, data):
        """Per-example training bound (:meth:`bound_of` with the model's k), shape ``[batch]``."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.bound_of(self(x, training=False))

    # --- data checks ---------------------------------------------------------------------------
    def fit(self, x=None, y=None, *args, **kwargs):
        self.check_data(x)
        if kwargs.get("validation_data") is not None:
            self.check_data(kwargs["validation_data"])
        if isinstance(x, tf.data.Dataset) and not args:
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras warns otherwise
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x)
        return super().evaluate(x, y, *args, **kwargs)

    def check_data(self, x):
        """Raise ``ValueError`` unless ``x`` is data this model can score.

        NumPy arrays and tensors are checked whole; a ``tf.data.Dataset`` by its first
        batch. A ``(x, y)`` or ``(x, y, sample_weight)`` tuple is checked by its ``x``.
        """
        if isinstance(x, tuple):
            x = x[0]
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                self.check_data(batch)
        elif isinstance(x, dict):
            self.validate_inputs({key: np.asarray(value) for key, value in x.items()})
        elif x is not None:
            self.validate_inputs(check_numeric(np.asarray(x)))

    def validate_inputs(self, x):
        """Raise ``ValueError`` if ``x`` (a NumPy batch, finite and numeric) is not data this
        model can score. Every subclass implements it."""
        raise NotImplementedError


def check_numeric(x):
    """``x`` if it is a numeric (or bool) array with finite values; ``ValueError`` otherwise."""
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise ValueError(f"Data must be numeric, got dtype {x.dtype}.")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError(
            f"Data contains {int(np.sum(~np.isfinite(x)))} NaN or infinite values; "
            "clean or impute them before training."
        )
    return x


def scale_for_replicas(loss):
    """``loss / replicas``, as Keras' own losses: the replicas' gradients are summed and Keras
    logs the loss multiplied back (1 replica: unchanged)."""
    return loss / tf.distribute.get_strategy().num_replicas_in_sync
