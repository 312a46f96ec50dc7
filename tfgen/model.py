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
files. The ``seed`` fixes the initial weights and the sampling noise, which comes from the
model's ``seed_generator`` (see :meth:`seed_stream` and :mod:`tfgen.seeds`).

Data are checked twice (:mod:`tfgen.data_checks`): whole arrays, or a dataset's first batch,
before work starts (:meth:`check_data`), and every batch inside the traced train, test and
predict steps (:meth:`batch_conditions`), so a bad 900th batch stops ``fit`` with a
``ValueError`` before its update.
"""
import dataclasses
from collections.abc import Iterator
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import backend, data_checks, objectives, presets, seeds  # noqa: F401  (backend: checks Keras)
from tfgen.data_checks import check_numeric  # noqa: F401  (re-exported: models' validate_inputs use it)

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
        seed: seed of the model's initial weights and sampling noise: the same seed gives the
            same model in any process (:mod:`tfgen.seeds`); ``None`` follows Keras' global
            seed (``keras.utils.set_random_seed``).
        **kwargs: Keras' ``name``, ``trainable``, ``dtype``.

    Subclasses set ``config_class`` (their hyper-parameter dataclass) and ``configs`` (a
    :class:`tfgen.config.Registry` of named configurations) and build ``self.config`` with
    :meth:`configure`.
    """

    config_class = None
    configs = None
    config = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # the layers a constructor makes start from the model's seed
            cls.__init__ = seeds.seeded_construction(cls.__dict__["__init__"])

    def __init__(self, latent_names, k=1, bound="iwae", estimator="total", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.k = objectives.check_k(k)
        self.bound_name = bound
        self.bound = objectives.get_bound(bound)
        self.estimator = objectives.check_estimator(estimator)
        self.seed = seed
        self.latent_names = tuple(latent_names)
        self.seed_generator = seeds.ReplicaSeedGenerator(seed)
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
        return seeds.ReplicaSeedGenerator(int(seed))

    def call(self, x, training=False):
        return self.log_weights(x, self.k, estimator=self.estimator, training=training)

    def input_signature(self):
        """The ``tf.TensorSpec`` (structure) of a batch, for :meth:`export`: ``[None, *image_shape]``
        float32 for models of images; models of other inputs override it."""
        shape = getattr(self.config, "image_shape", None)
        if shape is None:
            raise ValueError(f"{type(self).__name__} does not know its input's shape; pass input_signature.")
        return tf.TensorSpec((None, *shape), tf.float32, name="x")

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Write a TensorFlow SavedModel whose ``serve`` endpoint maps a batch (``input_signature``,
        by default :meth:`input_signature`) to its per-example training bound, ``[batch]`` nats:
        what :meth:`predict` returns, with the model's k and sampling noise.

        Keras' own export cannot infer a signature for these models (``build`` takes no input
        shape) nor serve their :class:`LogWeights` output. Raises ``ValueError`` for another
        ``format``.
        """
        if format != "tf_saved_model":
            raise ValueError(f"{type(self).__name__}.export writes format='tf_saved_model' only, "
                             f"not {format!r}.")
        if not self.built:
            self.build()
        archive = keras.export.ExportArchive()
        archive.track(self)
        archive.add_endpoint("serve", lambda x: self.bound_of(self(x, training=False)),
                             input_signature=[input_signature or self.input_signature()])
        archive.write_out(filepath, verbose=bool(verbose))

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

    def train_step(self, data):
        return super().train_step(self.checked_data(data))

    def test_step(self, data):
        return super().test_step(self.checked_data(data))

    def predict_step(self, data):
        """Per-example training bound (:meth:`bound_of` with the model's k), shape ``[batch]``."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(self.checked_data(data))
        return self.bound_of(self(x, training=False))

    def checked_batch(self, x):
        """``x`` gated by :meth:`batch_conditions`: every op computed from the result (so every
        gradient and update) waits for the check, which raises on a batch it cannot score."""
        with tf.control_dependencies(data_checks.assertions(self.batch_conditions(x))):
            return tf.nest.map_structure(tf.identity, x)

    def checked_data(self, data):
        """A step's ``data`` (``x`` or ``(x, y[, sample_weight])``) with ``x`` checked
        (:meth:`checked_batch`)."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return keras.utils.pack_x_y_sample_weight(self.checked_batch(x), y, sample_weight)

    # --- data checks ---------------------------------------------------------------------------
    def fit(self, x=None, y=None, *args, **kwargs):
        self.check_data(x, kwargs.get("batch_size") or 32)  # Keras' default batch size
        if kwargs.get("validation_data") is not None:
            self.check_data(kwargs["validation_data"])
        if isinstance(x, tf.data.Dataset) and not args:
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras warns otherwise
        with data_checks.data_errors():
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x)
        with data_checks.data_errors():
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self.check_data(x)
        with data_checks.data_errors():
            return super().predict(x, *args, **kwargs)

    def check_data(self, x, batch_size=None):
        """Raise ``ValueError`` unless ``x`` is data this model can score, before work starts.

        NumPy arrays and tensors are checked whole; a ``tf.data.Dataset`` or a
        ``keras.utils.PyDataset`` by its first batch (the traced steps check every batch); a
        Python generator only batch by batch. A ``(x, y)`` or ``(x, y, sample_weight)`` tuple
        is checked by its ``x``. With ``batch_size`` (or a batch's own size) a built model
        also refuses a step too large for the machine's memory
        (:func:`tfgen.data_checks.check_memory`).
        """
        if isinstance(x, tuple):
            x = x[0]
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                self.check_data(batch)
        elif isinstance(x, keras.utils.PyDataset):
            if x.num_batches != 0:
                first = x[0]
                self.check_data(first[0] if isinstance(first, tuple) else first)
        elif isinstance(x, Iterator) or x is None:
            return
        elif isinstance(x, dict):
            self.validate_inputs({key: np.asarray(value) for key, value in x.items()})
            batch_size = batch_size or len(next(iter(x.values())))
        else:
            x = check_numeric(np.asarray(x))
            self.validate_inputs(x)
            batch_size = min(batch_size or len(x), len(x))
        if batch_size and self.built:
            data_checks.check_memory(self, batch_size)

    def validate_inputs(self, x):
        """Raise ``ValueError`` if ``x`` (a NumPy batch, finite and numeric) is not data this
        model can score. Every subclass implements it."""
        raise NotImplementedError

    def batch_conditions(self, x):
        """``[(ok, message)]``: scalar bool tensors a batch ``x`` must satisfy, checked inside
        the traced steps (:func:`tfgen.data_checks.assertions`); by default every float value
        is finite. Models add their likelihood's support."""
        return [(data_checks.all_finite(value), data_checks.NOT_FINITE) for value in tf.nest.flatten(x)
                if tf.as_dtype(value.dtype).is_floating]


def scale_for_replicas(loss):
    """``loss / replicas``, as Keras' own losses: the replicas' gradients are summed and Keras
    logs the loss multiplied back (1 replica: unchanged)."""
    return loss / tf.distribute.get_strategy().num_replicas_in_sync
