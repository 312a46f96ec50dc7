"""Semi-supervised VAEs: M2 (Kingma et al. 2014) and the ADGM (Maaloe et al. 2016).

Generative model ``p(y) = Cat(1/C)``, ``p(z) = N(0, I)``, ``p(x | y, z)``; the ADGM adds an
auxiliary ``a`` with ``p(a | x, y, z)``. Inference ``q(a | x)``, ``q(y | a, x)`` (the
classifier) and ``q(z | a, y, x)`` (M2: no ``a``). With ``log w(x, y) = log p(x | y, z) +
log p(y) + log p(z) - log q(z | a, y, x) + log p(a | x, y, z) - log q(a | x)``:

* a labelled image (Kingma et al. eq. 6; Maaloe et al. eq. 11): ``L(x, y) = E_q log w(x, y)``;
* an unlabelled one (eq. 7; eq. 12), the class summed out exactly:
  ``U(x) = E_{q(a|x)} [ sum_y q(y | a, x) (E_q log w(x, y) - log q(y | a, x)) ]``;
* the objective maximised over a batch of each (eq. 9):
  ``J = mean_u U(x_u) + mean_l [ L(x_l, y_l) + classifier_weight * E_{q(a|x)} log q(y_l | a, x_l) ]``.

Data for ``fit`` / ``evaluate`` are dicts ``{"images": unlabelled [B, h*w*c], "labelled_images":
[B_l, h*w*c], "labels": int [B_l]}`` (:func:`semi_supervised_batches` makes them). Arrays of
images alone are scored as the other zoo models: ``log_weights`` samples ``y ~ q(y | a, x)``,
so IWAE_k estimates ``log p(x)`` (:func:`tfgen.evaluation.log_likelihood`). ``predict`` gives
class probabilities ``q(y | x)`` (averaged over ``a ~ q(a | x)`` for the ADGM).

Networks (:mod:`zoo.ssvae.configs`): the encoder MLP ``x -> hidden`` is shared by every class;
``q(z | a, y, x)`` reads ``[h(x), y, a]`` through one more hidden layer; the decoder MLP reads
``[z, y]``; the classifier MLP reads ``[x, a]``; ``q(a | x)`` and ``p(a | x, y, z)`` are MLPs.
"""

import math
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import layers, objectives
from tfgen.image_model import ImageModel
from tfgen.model import LatentVariableModel, LogWeights, check_numeric
from zoo.ssvae.configs import CONFIGS, SSVAEConfig

KEYS = ("images", "labelled_images", "labels")


class Outputs(NamedTuple):
    """One training pass: per-image terms ``[B]`` of the unlabelled batch, ``[B_l]`` of the labelled.

    ``unlabelled``: ``{"bound": U, "reconstruction", "kl_y", "kl_z"(, "kl_a")}``;
    ``labelled``: ``{"bound": L, "log_qy": E_a log q(y_l | a, x_l), "error": 0/1}``.
    """

    unlabelled: dict
    labelled: dict


@keras.saving.register_keras_serializable(package="zoo")
class SemiSupervisedVAE(ImageModel, LatentVariableModel):
    """M2 (``auxiliary=0``) or the ADGM (``auxiliary > 0``) over images with ``classes`` classes.

    Keyword arguments are the fields of :class:`zoo.ssvae.configs.SSVAEConfig`;
    ``SemiSupervisedVAE.from_config_name("maaloe2016_adgm")`` starts from a named configuration.

    Raises ``ValueError`` for bad hyper-parameters, for images of the wrong shape or values, for
    labels outside ``0 .. classes - 1``, and when ``fit`` / ``evaluate`` get images without labels.

    References: Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
    Generative Models" (NeurIPS 2014), eqs. 6-9; Maaloe, Sonderby, Sonderby & Winther,
    "Auxiliary Deep Generative Models" (ICML 2016), eqs. 11-13.
    """

    config_class = SSVAEConfig
    configs = CONFIGS

    def __init__(self, name="ssvae", **fields):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        names = (["a"] if c.auxiliary else []) + ["y", "z"]
        super().__init__(names, k=c.k, bound="elbo", seed=c.seed, name=name, **keras_kwargs)
        self.make_blocks(c.hidden, tuple(reversed(c.hidden)))
        self.classifier = layers.MLP(c.hidden, c.activation, name="classifier")
        self.class_logits = keras.layers.Dense(c.classes, name="class_logits")
        self.q_z = layers.DiagonalGaussian(c.latent, (c.hidden[-1],), c.activation, name="q_z")
        if c.auxiliary:
            self.q_a = layers.DiagonalGaussian(c.auxiliary, c.hidden, c.activation, name="q_a")
            self.p_a = layers.DiagonalGaussian(c.auxiliary, c.hidden, c.activation, name="p_a")

    def build(self, input_shape=None):
        c = self.config
        features = self.build_blocks(c.latent + c.classes)
        layers.build_once(self.classifier, (None, c.dims + c.auxiliary))
        layers.build_once(self.class_logits, (None, c.hidden[-1]))
        layers.build_once(self.q_z, (None, features + c.classes + c.auxiliary))
        if c.auxiliary:
            layers.build_once(self.q_a, (None, c.dims))
            layers.build_once(self.p_a, (None, c.dims + c.classes + c.latent))
        # Every Gaussian starts with unit scales: exp of a random projection of unbounded softplus
        # features gives scales of exp(+-30) and an infinite first bound in the ADGM.
        for head in (self.q_z, self.q_a, self.p_a) if c.auxiliary else (self.q_z,):
            kernel = head.heads["log_scale"].kernel
            kernel.assign(tf.zeros_like(kernel))
        self.built = True

    # --- the pieces ------------------------------------------------------------------------------
    def _auxiliary(self, x, k, seed, estimator):
        """``(a [k, B, A], log q(a | x) [k, B], classifier logits [k or 1, B, C])``; M2: ``a`` is None."""
        if not self.config.auxiliary:
            return None, None, self.class_logits(self.classifier(x))[None]
        params = self.q_a(x)
        a = self.q_a.sample(*params, seed=seed, k=k)
        log_qa = self.q_a.log_prob(a, *objectives.variational_parameters(params, estimator))
        inputs = tf.concat([tf.broadcast_to(x, tf.concat([[k], tf.shape(x)], 0)), a], axis=-1)
        return a, log_qa, self.class_logits(self.classifier(inputs))

    def _log_weights(self, x, h, a, log_qa, y, k, seed, estimator):
        """Log weights ``[k, C', B]`` and their parts for one-hot classes ``y [k or 1, C', B, C]``."""
        lead = tf.concat([[k], tf.shape(y)[1:2]], 0)

        def spread(t):  # [B, d] or [k or 1, 1 or C', B, d] -> [k, C', B, d]
            t = t if len(t.shape) == 4 else t[None, None]
            return tf.broadcast_to(t, tf.concat([lead, tf.shape(t)[-2:]], 0))

        y = spread(y)
        parts = [spread(h), y] + ([spread(a[:, None])] if a is not None else [])
        params = self.q_z(tf.concat(parts, axis=-1))
        z = self.q_z.sample(*params, seed=seed)
        log_qz = self.q_z.log_prob(z, *objectives.variational_parameters(params, estimator))
        log_pz = layers.standard_normal_log_prob(z)
        log_px = self.log_likelihood(x, tf.concat([z, y], axis=-1))
        log_py = tf.fill(tf.shape(log_pz), -math.log(self.config.classes))
        log_p = {"y": log_py, "z": log_pz}
        log_q = {"z": log_qz}
        if a is not None:
            log_p["a"] = self.p_a.log_prob(
                spread(a[:, None]), *self.p_a(tf.concat([spread(x), y, z], axis=-1))
            )
            log_q["a"] = tf.broadcast_to(log_qa[:, None], tf.shape(log_pz))
        log_w = log_px + tf.add_n(list(log_p.values())) - tf.add_n(list(log_q.values()))
        return log_w, log_px, log_p, log_q

    def _one_hot(self, labels, batch_axes):
        return tf.reshape(tf.one_hot(tf.cast(labels, "int32"), self.config.classes), batch_axes)

    # --- the LatentVariableModel contract ---------------------------------------------------------
    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        """Importance weights of images alone: ``y ~ q(y | a, x)`` sampled, ``[k, B]``.

        ``x``: images, or a dict whose ``"images"`` are scored. The parts are keyed ``"y"``,
        ``"z"`` (and ``"a"``): ``log_pz["y"] = log p(y)``, ``log_qz["y"] = log q(y | a, x)``.
        """
        x = self.flat(x["images"] if isinstance(x, dict) else x)
        seed = self.seed_stream(seed)
        a, log_qa, logits = self._auxiliary(x, k, seed, estimator)
        logits = tf.broadcast_to(logits, tf.concat([[k], tf.shape(logits)[1:]], 0))
        y = keras.random.categorical(tf.reshape(logits, [-1, self.config.classes]), 1, seed=seed)
        y = tf.reshape(y, tf.shape(logits)[:2])
        log_qy = tf.reduce_sum(tf.one_hot(y, self.config.classes) * tf.nn.log_softmax(logits), axis=-1)
        one_hot = self._one_hot(y, tf.concat([tf.shape(y)[:1], [1], tf.shape(y)[1:], [-1]], 0))
        log_w, log_px, log_p, log_q = self._log_weights(
            x, self.encoder(x), a, log_qa, one_hot, k, seed, estimator
        )
        log_p, log_q = ({key: value[:, 0] for key, value in terms.items()} for terms in (log_p, log_q))
        log_q["y"] = log_qy
        return LogWeights(log_w[:, 0] - log_qy, log_px[:, 0], log_p, log_q)

    def call(self, x, training=False):
        if not isinstance(x, dict):
            return self.log_weights(x, self.k, self.estimator, training=training)
        missing = [key for key in KEYS if key not in x]
        if missing:
            raise ValueError(f"SemiSupervisedVAE trains on dicts with {list(KEYS)}; missing {missing}.")
        k, seed, estimator, c = self.k, self.seed_stream(None), self.estimator, self.config
        # Unlabelled: every class at once, the class axis second: y [1, C, B, C].
        xu = self.flat(x["images"])
        a, log_qa, logits = self._auxiliary(xu, k, seed, estimator)
        every = tf.eye(c.classes)[None, :, None, :] * tf.ones_like(xu[None, None, :, :1])
        log_w, log_px, log_p, log_q = self._log_weights(
            xu, self.encoder(xu), a, log_qa, every, k, seed, estimator
        )
        q_y = tf.transpose(tf.nn.softmax(logits), [0, 2, 1])  # [k or 1, C, B]
        log_qy = tf.transpose(tf.nn.log_softmax(logits), [0, 2, 1])

        def expect(t):  # E_{q(a|x)} sum_y q(y | a, x) t: [k, C, B] -> [B]
            return tf.reduce_mean(tf.reduce_sum(q_y * t, axis=1), axis=0)

        unlabelled = {
            "bound": expect(log_w - log_qy),
            "reconstruction": expect(log_px),
            "kl_y": expect(log_qy - log_p["y"]),
            "kl_z": expect(log_q["z"] - log_p["z"]),
        }
        if c.auxiliary:
            unlabelled["kl_a"] = expect(log_q["a"] - log_p["a"])
        # Labelled: the given class, y [1, 1, B_l, C].
        xl = self.flat(x["labelled_images"])
        a, log_qa, logits = self._auxiliary(xl, k, seed, estimator)
        y = self._one_hot(x["labels"], [1, 1, -1, c.classes])
        log_w_l = self._log_weights(xl, self.encoder(xl), a, log_qa, y, k, seed, estimator)[0]
        probs = tf.reduce_mean(tf.nn.softmax(logits), axis=0)
        labelled = {
            "bound": tf.reduce_mean(log_w_l[:, 0], axis=0),
            "log_qy": tf.reduce_mean(tf.reduce_sum(y[0] * tf.nn.log_softmax(logits), axis=-1), axis=0),
            "error": tf.cast(tf.argmax(probs, -1) != tf.cast(x["labels"], "int64"), "float32"),
        }
        return Outputs(unlabelled, labelled)

    def metric_names(self):
        return (
            ["elbo", "reconstruction", "kl"]
            + [f"kl_{layer}" for layer in self.latent_names]
            + ["labelled_elbo", "cross_entropy", "error"]
        )

    def _outputs(self, outputs):
        if not isinstance(outputs, Outputs):
            raise ValueError(
                "SemiSupervisedVAE.fit / evaluate need labelled data: dicts with "
                f"{list(KEYS)} (see zoo.ssvae.semi_supervised_batches)."
            )
        return outputs

    def objective(self, outputs):
        """``J`` per unlabelled image ``[B]``: ``U(x_u)`` plus the labelled batch's mean term."""
        u, lab = self._outputs(outputs)
        labelled = tf.reduce_mean(lab["bound"] + self.config.classifier_weight * lab["log_qy"])
        return u["bound"] + labelled

    def track(self, outputs):
        """``elbo`` = U and its parts on unlabelled images; ``labelled_elbo`` = L, ``cross_entropy``
        ``-log q(y|x)`` and the classification ``error`` (a fraction) on labelled ones."""
        u, lab = self._outputs(outputs)
        kls = {f"kl_{layer}": u[f"kl_{layer}"] for layer in self.latent_names}
        return {
            "elbo": u["bound"],
            "reconstruction": u["reconstruction"],
            "kl": tf.add_n(list(kls.values())),
            **kls,
            "labelled_elbo": lab["bound"],
            "cross_entropy": -lab["log_qy"],
            "error": lab["error"],
        }

    def class_probabilities(self, x, samples=10, seed=None):
        """``q(y | x)`` ``[B, classes]`` for images ``x``; the ADGM averages ``q(y | a, x)`` over
        ``samples`` draws of ``a ~ q(a | x)``."""
        x = self.flat(x["images"] if isinstance(x, dict) else x)
        _, _, logits = self._auxiliary(x, samples, self.seed_stream(seed), "total")
        return tf.reduce_mean(tf.nn.softmax(logits), axis=0)

    def predict_step(self, data):
        """Class probabilities ``q(y | x)``, ``[batch, classes]``."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.class_probabilities(x)

    def sample(self, num, seed=None, labels=None):
        """Means ``E[x | y, z]`` ``[num, h*w*c]`` of ``z ~ N(0, I)`` and ``labels`` (``[num]`` ints;
        default: uniform classes)."""
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        c = self.config
        if labels is None:
            labels = keras.random.randint((num,), 0, c.classes, seed=seed)
        z = keras.random.normal((num, c.latent), seed=seed)
        return self.mean_image(tf.concat([z, tf.one_hot(tf.cast(labels, "int32"), c.classes)], axis=-1))

    # --- data checks ------------------------------------------------------------------------------
    def validate_inputs(self, x):
        if not isinstance(x, dict):
            return ImageModel.validate_inputs(self, x)
        unknown = sorted(set(x) - set(KEYS))
        if unknown or "images" not in x:
            raise ValueError(f"SemiSupervisedVAE data are dicts with {list(KEYS)}, got keys {sorted(x)}.")
        for key in ("images", "labelled_images"):
            if key in x:
                ImageModel.validate_inputs(self, check_numeric(x[key]))
        if "labels" in x:
            labels = check_numeric(x["labels"])
            bad = (labels < 0) | (labels >= self.config.classes) | (labels != np.round(labels))
            if np.any(bad):
                raise ValueError(
                    f"labels must be integers in 0..{self.config.classes - 1}, found {labels[bad].flat[0]!r}."
                )

    def batch_conditions(self, x):
        """Each image entry checked as :meth:`ImageModel.batch_conditions`; labels integers in
        ``0 .. classes - 1`` (traced, every batch)."""
        if not isinstance(x, dict):
            return ImageModel.batch_conditions(self, x)
        conditions = [condition for key in ("images", "labelled_images") if key in x
                      for condition in ImageModel.batch_conditions(self, x[key])]
        if "labels" in x:
            labels, classes = tf.cast(x["labels"], "float32"), self.config.classes
            ok = tf.reduce_all((labels >= 0.0) & (labels < classes) & tf.equal(labels, tf.round(labels)))
            conditions.append((ok, f"a batch holds labels that are not integers in 0..{classes - 1}"))
        return conditions


class ClassificationError(keras.callbacks.Callback):
    """Logs ``{name}_error``, the fraction of ``images`` whose most probable class under
    ``q(y | x)`` is not their label, at the end of every epoch (before the run driver records it)."""

    def __init__(self, images, labels, name="val", batch_size=500):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels)
        self.name, self.batch_size = name, batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[f"{self.name}_error"] = classification_error(
                self.model, self.images, self.labels, self.batch_size
            )


def classification_error(model, images, labels, batch_size=500):
    """The fraction of ``images`` misclassified by ``model.class_probabilities`` (argmax)."""
    probs = model.predict(images, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=-1) != np.asarray(labels)))


def labelled_subset(labels, per_class, seed):
    """Indices of ``per_class`` images of each class, drawn without replacement (seeded), sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        if len(where) < per_class:
            raise ValueError(f"Class {c} has {len(where)} images, fewer than {per_class} labels per class.")
        chosen.append(rng.choice(where, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def semi_supervised_batches(
    unlabelled,
    labelled,
    labels,
    batch_size,
    labelled_batch_size,
    seed,
    first_epoch,
    epochs,
    dynamic_binarization=False,
):
    """``fit``'s data: every epoch's shuffled batches of ``unlabelled`` images, each paired with
    ``labelled_batch_size`` labelled images drawn with replacement (Kingma et al. and Maaloe et al.
    reuse the few labels in every batch). A function of ``(seed, epoch)``, so runs resume exactly.

    Returns ``(dataset of {"images", "labelled_images", "labels"}, steps per epoch)``.
    """
    from tfgen import data

    images, steps = data.epoch_batches(
        unlabelled, batch_size, seed, first_epoch, epochs, dynamic_binarization
    )
    table, classes = tf.constant(np.asarray(labelled, "float32")), tf.constant(np.asarray(labels, "int64"))
    n = len(labels)

    def pair(batch, step):
        idx = tf.random.stateless_uniform([labelled_batch_size], tf.stack([seed + 2, step]), 0, n, "int64")
        x = tf.gather(table, idx)
        if dynamic_binarization:
            u = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([seed + 3, step]))
            x = tf.cast(u < x, "float32")
        return {"images": batch, "labelled_images": x, "labels": tf.gather(classes, idx)}

    counter = tf.data.Dataset.range(first_epoch * steps, epochs * steps)
    return data.prefetched(tf.data.Dataset.zip(images, counter).map(pair)), steps
