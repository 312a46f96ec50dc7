"""The base ``keras.Model`` of every latent-variable model in tfgen.

A subclass implements :meth:`LatentVariableModel.log_weights`, returning :class:`LogWeights`;
``compile`` / ``fit`` / ``evaluate`` / ``predict``, callbacks, checkpoints and the metrics
below then work unchanged. Two hooks separate what is *logged* from what is *maximised*:

* :meth:`~LatentVariableModel.track` gives the metrics (per-example values) that the Keras
  metric trackers average;
* :meth:`~LatentVariableModel.objective` gives the per-example value training maximises;
  by default the bound named at construction (:mod:`tfgen.objectives`), so Keras' ``loss``
  is ``-bound``. FIVO and the constrained models (:mod:`tfgen.lagrangian`) override only it.

The gradient estimator named at construction acts in three places, so no model copies it:
``log_weights(..., estimator)`` places ``stop_gradient`` (``total``, ``path``, ``dreg``; the
score-function estimators stop the samples, :func:`tfgen.objectives.samples`; binary layers
wire ``taylor`` and ``concrete`` into their samples); :meth:`~LatentVariableModel.estimator_terms`
adds the zero-valued score-function surrogates and trains the baselines
(:mod:`tfgen.estimators`); and :meth:`~LatentVariableModel.train_step` gives DReG's two
variable groups their own gradients. :meth:`~LatentVariableModel.loss_and_gradients` returns
the gradient a step applies, for measuring estimators.

KL warm-up: the non-trainable ``kl_weight`` (1 by default; moved by
:class:`tfgen.callbacks.KLWarmup`) scales ``log p(z) - log q(z | x)`` inside the trained bound,
``log_w_beta = log p(x | z) + beta (log p(z) - log q(z | x))`` (Sonderby et al. 2016; the
tutorial's footnote: "temperature on the KL-divergence going from 0 to 1").

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
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import backend, data_checks, distribute, estimators, objectives, presets, seeds  # noqa: F401
from tfgen.config import SCORE_FUNCTION
from tfgen.data_checks import check_numeric  # noqa: F401  (re-exported: models' validate_inputs use it)

KERAS_ARGUMENTS = ("name", "trainable", "dtype")
SeedLike = int | keras.random.SeedGenerator | None  # see LatentVariableModel.seed_stream


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

    def kl(self, layer: str) -> tf.Tensor:
        """Monte Carlo ``KL(q || p)`` of one layer, ``mean_k(log q - log p)``: ``[batch]``."""
        return tf.reduce_mean(self.log_qz[layer] - self.log_pz[layer], axis=0)


def log_weights_of(outputs) -> LogWeights:
    """The :class:`LogWeights` in a model's outputs: the outputs themselves, or their
    ``log_weights`` field (models whose ``call`` returns more, e.g. FIVO's filter)."""
    return outputs if isinstance(outputs, LogWeights) else outputs.log_weights


class LatentVariableModel(keras.Model):
    """Base class: fit()-compatible training of a bound over log importance weights.

    Args:
        latent_names: names of the stochastic layers, in the order ``log_weights`` reports
            them (they name the ``kl_{layer}`` metrics).
        k: importance samples per example during training and evaluation.
        bound: the bound trained: ``"elbo"`` (= ``"vae"``), ``"iwae"`` or ``"renyi"``
            (:func:`tfgen.objectives.get_bound`).
        estimator: gradient estimator, one of :data:`tfgen.config.ALL_ESTIMATORS` (those a model
            supports are its family's choices); ``"vimco"`` needs ``k >= 2``.
        seed: seed of the model's initial weights and sampling noise: the same seed gives the
            same model in any process (:mod:`tfgen.seeds`); ``None`` follows Keras' global
            seed (``keras.utils.set_random_seed``).
        alpha: the Renyi bound's alpha (``bound="renyi"`` only).
        baseline_hidden: hidden units of NVIL's baseline network (``estimator="nvil"``).
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

    def __init__(self, latent_names: Sequence[str], k: int = 1, bound: str = "iwae", estimator: str = "total",
                 seed: int | None = None, alpha: float | None = None, baseline_hidden: Sequence[int] = (100,),
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.k = objectives.check_k(k)
        self.bound_name = bound
        self.bound = objectives.get_bound(bound, alpha)
        self.alpha = objectives.bound_alpha(bound, alpha)
        self.estimator = objectives.check_estimator(estimator)
        if estimator == "vimco" and self.k < 2:
            raise ValueError("VIMCO's leave-one-out baseline needs k >= 2 samples per example, got k=1.")
        self.baseline = (estimators.Baseline(estimator == "nvil", baseline_hidden, name="baseline")
                         if estimator in ("reinforce_ma", "nvil") else None)
        self.seed = seed
        self.latent_names = tuple(latent_names)
        self.seed_generator = seeds.ReplicaSeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names()}
        # Not a Keras weight (saved files keep their layout): a schedule, set by KLWarmup each step.
        self._kl_weight = [tf.Variable(1.0, trainable=False, name="kl_weight")]

    @property
    def kl_weight(self):
        """The KL warm-up weight ``beta`` (a non-trainable ``tf.Variable``, 1 unless a callback moves it)."""
        return self._kl_weight[0]

    # --- configuration -----------------------------------------------------------------------
    @classmethod
    def configure(cls, fields: dict) -> tuple[object, dict]:
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
    def from_config_name(cls, name: str, **overrides) -> LatentVariableModel:
        """The model of the named configuration ``name`` (see ``cls.configs``), fields overridden."""
        keras_kwargs = {key: overrides.pop(key) for key in KERAS_ARGUMENTS if key in overrides}
        return cls(**dataclasses.asdict(cls.configs.get(name, **overrides)), **keras_kwargs)

    def get_config(self) -> dict:
        config = super().get_config()  # name, trainable and the dtype policy
        if dataclasses.is_dataclass(self.config):
            config.update(dataclasses.asdict(self.config))
        return config

    @classmethod
    def from_config(cls, config: dict) -> LatentVariableModel:
        return cls(**config)

    # --- presets -------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset: str, **kwargs) -> LatentVariableModel:
        """A compiled model of this class from a preset name, folder or URL.

        See :func:`tfgen.presets.load_preset` for ``kwargs``; the preset must hold a ``cls``.
        """
        model = presets.load_preset(preset, **kwargs)
        if not isinstance(model, cls):
            raise ValueError(f"Preset {preset!r} holds a {type(model).__name__}, not a {cls.__name__}.")
        return model

    def save_to_preset(self, directory: str, metadata: dict) -> dict:
        """Write this model as a preset folder; see :func:`tfgen.presets.save_to_preset`."""
        return presets.save_to_preset(self, directory, metadata)

    # --- the model -----------------------------------------------------------------------------
    def log_weights(self, x, k: int, estimator: str = "total", seed: SeedLike = None,
                    training: bool = False) -> LogWeights:
        """Log importance weights of ``x`` (``[batch, ...]``) with ``k`` samples each.

        Returns :class:`LogWeights` of ``[k, batch]`` tensors. ``seed``: see :meth:`seed_stream`.
        """
        raise NotImplementedError

    def seed_stream(self, seed: SeedLike = None) -> keras.random.SeedGenerator:
        """The ``keras.random.SeedGenerator`` a draw uses: the model's own for ``None`` (it
        advances, as in training), a new one for an int (the same draws every call), or
        ``seed`` itself if it is a generator."""
        if seed is None:
            return self.seed_generator
        if isinstance(seed, keras.random.SeedGenerator):
            return seed
        return seeds.ReplicaSeedGenerator(int(seed))

    def call(self, x, training: bool = False):
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
    def metric_names(self) -> list[str]:
        """Names of the metrics :meth:`track` returns (their trackers are made at construction)."""
        return (["elbo", f"iwae_k{self.k}", "reconstruction", "kl"]
                + [f"kl_{layer}" for layer in self.latent_names])

    def warmed_log_w(self, outputs) -> tf.Tensor:
        """``log_w_beta = log_w - (1 - beta) (log p(z) - log q(z | x))``, ``[k, batch]``: the log
        weights the trained bound reads, ``log_w`` itself when ``kl_weight`` is 1."""
        lw = log_weights_of(outputs)
        return lw.log_w - (1.0 - tf.cast(self.kl_weight, lw.log_w.dtype)) * (lw.log_w - lw.log_px_z)

    def bound_of(self, outputs) -> tf.Tensor:
        """The per-example training bound ``[batch]`` of ``outputs`` (the result of ``call``),
        over the KL-warmed log weights (:meth:`warmed_log_w`)."""
        return self.bound(self.warmed_log_w(outputs))

    def objective(self, outputs) -> tf.Tensor:
        """The per-example value training maximises, ``[batch]``: :meth:`bound_of` by default."""
        return self.bound_of(outputs)

    def track(self, outputs) -> dict[str, tf.Tensor]:
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

    def estimator_terms(self, x, outputs, training=False):
        """Zero-valued per-example terms ``[batch]`` that complete a score-function estimator.

        ``sum_k stop(l_k - b_k) grad log q_k`` with the bound of :meth:`warmed_log_w` as the
        learning signal and the estimator's control variate (:mod:`tfgen.estimators`), minus
        NVIL's baseline regression loss; ``None`` for the other estimators. Moves the
        baselines' moving averages when ``training``.
        """
        if self.estimator not in SCORE_FUNCTION:
            return None
        lw = log_weights_of(outputs)
        log_w = self.warmed_log_w(lw)
        log_q = tf.add_n(list(lw.log_qz.values()))
        if self.estimator == "vimco":
            return estimators.score_function(log_q, estimators.leave_one_out(log_w, self.bound))
        signal = self.bound(log_w)
        if self.baseline is None:
            return estimators.score_function(log_q, signal[None])
        centred, regression = self.baseline.centre(signal, self.baseline_inputs(x), training)
        return estimators.score_function(log_q, centred[None]) - estimators.zero_valued(regression)

    def baseline_inputs(self, x):
        """What NVIL's baseline network reads: ``x`` as float32 rows ``[batch, features]``."""
        x = tf.cast(x, "float32")
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def inference_variables(self):
        """The variables of ``q(z | x)``: DReG gives them their own gradient, and estimator
        comparisons group gradients by them. Models offering ``"dreg"`` implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not declare its inference network "
                                  "(inference_variables), which DReG needs.")

    def train_step(self, data):
        """Keras' step on the checked batch (:meth:`checked_data`), except for DReG: the generative
        and inference variables take the gradients of different surrogates (:meth:`loss_and_gradients`)."""
        data = self.checked_data(data)
        if self.estimator != "dreg":
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, gradients, outputs = self.loss_and_gradients(x, y, sample_weight)
        self._loss_tracker.update_state(loss * tf.distribute.get_strategy().num_replicas_in_sync,
                                        sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        self.optimizer.apply(gradients, self.trainable_variables)
        return self.compute_metrics(x, y, outputs, sample_weight)

    def loss_and_gradients(self, x, y=None, sample_weight=None):
        """``(loss, gradients, outputs)`` of one training batch: the gradients (one per
        ``self.trainable_variables``, ``None`` where a variable gets none) a step applies.

        Under ``"dreg"`` the generative variables take the gradient of the loss and those of
        :meth:`inference_variables` that of :func:`tfgen.estimators.dreg_inference`. Baselines'
        moving averages move, as in a training step; the weights do not.
        """
        optimizer = getattr(self, "optimizer", None)  # None before compile()
        with tf.GradientTape(persistent=self.estimator == "dreg") as tape:
            outputs = self(x, training=True)
            loss = self.compute_loss(x, y, outputs, sample_weight, training=True)
            scaled = optimizer.scale_loss(loss) if optimizer is not None else loss
            if self.estimator == "dreg":
                value = estimators.dreg_inference(self.warmed_log_w(outputs), self.alpha)
                inference_loss = scale_for_replicas(-tf.reduce_mean(value * _weights(sample_weight, value)))
                if optimizer is not None:
                    inference_loss = optimizer.scale_loss(inference_loss)
        variables = self.trainable_variables
        if self.estimator != "dreg":
            return loss, tape.gradient(scaled, variables), outputs
        inference = {id(v) for v in self.inference_variables()}
        generative = [v for v in variables if id(v) not in inference]
        by_id = dict(zip(map(id, generative), tape.gradient(scaled, generative)))
        inference_variables = [v for v in variables if id(v) in inference]
        by_id.update(zip(map(id, inference_variables), tape.gradient(inference_loss, inference_variables)))
        del tape
        return loss, [by_id[id(v)] for v in variables], outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training: bool = True) -> tf.Tensor:
        """``-mean(sample_weight * (objective + estimator_terms))`` plus any ``add_loss`` terms,
        scaled for replicas; updates the trackers with :meth:`track` (weighted by
        ``sample_weight``). The estimator terms are zero-valued: the loss is ``-objective``."""
        weights = None if sample_weight is None else tf.reshape(tf.cast(sample_weight, "float32"), [-1])
        for name, value in self.track(y_pred).items():
            value = tf.convert_to_tensor(value)
            self.trackers[name].update_state(value, sample_weight=weights if value.shape.rank else None)
        value = self.objective(y_pred)
        terms = self.estimator_terms(x, y_pred, training)
        if terms is not None:
            value = value + terms
        if weights is not None:
            value = value * tf.cast(weights, value.dtype)
        loss = -tf.reduce_mean(value)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return scale_for_replicas(loss)

    def test_step(self, data):
        return super().test_step(self.checked_data(data))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The logs of a step; rank 1 across several workers, where Keras 3 averages each
        worker's logs along axis 0 and a scalar has none (tensorflow/tensorflow#72388)."""
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        if distribute.workers() > 1:
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def predict_step(self, data) -> tf.Tensor:
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
        # Keras' default batch size for arrays; a dataset brings its own
        self.check_data(x, kwargs.get("batch_size") or (None if isinstance(x, tf.data.Dataset) else 32))
        if kwargs.get("validation_data") is not None:
            self.check_data(kwargs["validation_data"])
        if isinstance(x, tf.data.Dataset) and not args:
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras warns otherwise
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self.checked_under_xla(kwargs["validation_data"])
        build_for_fit(self)
        with data_checks.data_errors():
            return super().fit(self.checked_under_xla(x), y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self.check_data(x)
        with data_checks.data_errors():
            return super().evaluate(self.checked_under_xla(x), y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self.check_data(x)
        with data_checks.data_errors():
            return super().predict(self.checked_under_xla(x), *args, **kwargs)

    def build_optimizers(self) -> None:
        """Create the optimizer's variables (Adam's moments) for :attr:`trainable_variables`, if
        it has none yet (``fit`` calls it through :func:`build_for_fit`; ``compile_from_config``
        of models with several optimizers, so that a saved state loads into them). Models with
        several optimizers build each with the variables it updates."""
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def checked_under_xla(self, data):
        """``data``, or under XLA (``jit_compile``), which drops the traced steps' ``Assert``
        ops, a ``tf.data.Dataset`` whose every batch :meth:`checked_data` checks as it is read,
        so a bad batch still stops ``fit`` before its update. Arrays are checked whole before
        work starts (:meth:`check_data`); a generator or ``PyDataset`` is not mapped."""
        if not (self.jit_compile and isinstance(data, tf.data.Dataset)):
            return data
        return data.map(lambda *element: self.checked_data(element if len(element) > 1 else element[0]))

    def check_data(self, x, batch_size: int | None = None) -> None:
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

    def validate_inputs(self, x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Raise ``ValueError`` if ``x`` (a NumPy batch, finite and numeric) is not data this
        model can score. Every subclass implements it."""
        raise NotImplementedError

    def batch_conditions(self, x):
        """``[(ok, message)]``: scalar bool tensors a batch ``x`` must satisfy, checked inside
        the traced steps (:func:`tfgen.data_checks.assertions`); by default every float value
        is finite. Models add their likelihood's support."""
        return [(data_checks.all_finite(value), data_checks.NOT_FINITE) for value in tf.nest.flatten(x)
                if tf.as_dtype(value.dtype).is_floating]


def build_for_fit(model: keras.Model) -> None:
    """Create a compiled ``model``'s variables and its optimizers' before ``fit`` traces the
    training step; Keras would create them while tracing, where each variable is slow to make
    and new variables make the step trace twice (docs/benchmarks.md, "Training starts sooner").

    ``model`` has ``build_optimizers()`` (:class:`LatentVariableModel`, the GAN). An unbuilt
    model is built if its ``build`` takes no input shape (every zoo model's); the optimizers
    are built only when every layer is, as Keras itself does before building an optimizer
    early, so a model that builds parts of itself on its first call is left to Keras. An
    uncompiled model is left to Keras' own error.
    """
    if not model.compiled:
        return
    with model.distribute_strategy.scope():
        parameters = inspect.signature(model.build).parameters.values()
        if not model.built and all(p.default is not p.empty for p in parameters):  # build(input_shape=None)
            model.build()
        if all(layer.built for layer in model._flatten_layers()):  # Keras' test (Trainer._symbolic_build)
            model.build_optimizers()


def _weights(sample_weight, like):
    """``sample_weight`` as ``[batch]`` in ``like``'s dtype, or 1."""
    if sample_weight is None:
        return tf.ones([], like.dtype)
    return tf.cast(tf.reshape(sample_weight, [-1]), like.dtype)


def scale_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """``loss / replicas``, as Keras' own losses: the replicas' gradients are summed and Keras
    logs the loss multiplied back (1 replica: unchanged)."""
    return loss / tf.distribute.get_strategy().num_replicas_in_sync
