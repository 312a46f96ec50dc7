"""Variational RNN of Chung et al., "A Recurrent Latent Variable Model for Sequential Data"
(NIPS 2015), trained with ELBO, VAE_K, IWAE_K or FIVO (Maddison et al., NIPS 2017).

Generative model and inference network, for ``t = 1..T`` (Chung et al., eqs. 5-9)::

    prior      p(z_t | h_{t-1})        = N(mu_0(h_{t-1}), diag sigma_0(h_{t-1})^2)
    posterior  q(z_t | x_t, h_{t-1})   = N(mu_z(phi_x(x_t), h_{t-1}), diag sigma_z(.)^2)
    emission   p(x_t | z_t, h_{t-1})   = Bernoulli(logits(phi_z(z_t), h_{t-1}))   piano rolls
                                       | N(mu_x(.), diag sigma_x(.)^2)             real frames
    recurrence h_t = LSTM([phi_x(x_t), phi_z(z_t)], h_{t-1})

Whole-sequence log importance weights (one per sampled trajectory ``z_{1:T}``)::

    log_w = sum_{t <= length} [log p(x_t | z_t, h_{t-1}) + log p(z_t | h_{t-1})
                               - log q(z_t | x_t, h_{t-1})]

are a SUM over time (never an average) of the masked per-step terms, so ``mean_k log_w``
(ELBO / VAE_K) and ``log mean_k exp(log_w)`` (IWAE_K) are bounds on ``log p(x_{1:T})``.
The seed experiment this module replaces normalised importance weights with the wrong sign
and averaged log-weights over time; averaging makes ``log mean_k exp`` a bound on nothing
and shrinks IWAE's weight differences by a factor ``T``. Here ``tfgen.objectives`` applies
the bounds to correctly summed weights, and ``objective="fivo"`` runs the particle filter
of :mod:`tfgen.smc` (multinomial resampling when ESS < k/2, no gradient through it).

Sizes: the defaults (LSTM 64 units, z 32, phi_x / phi_z / head hidden layers 64) keep JSB
training fast on one CPU core. :data:`PAPER_SIZES` follow the FIVO reference code's pianoroll
default ``--latent_size=64`` (tensorflow/models, research/fivo/fivo.py), used for the latent
state, the LSTM and the feature layers alike: ``VRNN(**PAPER_SIZES, ...)``.

Inputs: a dict ``{"frames": [batch, T, D], "mask": [batch, T]}`` as
:mod:`tfgen.sequences` yields, or a plain ``[batch, T, D]`` tensor of full-length sequences.
"""
import dataclasses
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import evaluation, layers, objectives, sequences, smc
from tfgen.model import DataclassConfig, LatentVariableModel, LogWeights

OBJECTIVES = ("elbo", "vae", "iwae", "fivo")
PAPER_SIZES = {"rnn_units": 64, "latent": 64, "features": 64}
LIKELIHOODS = ("bernoulli", "gaussian")


@dataclasses.dataclass
class VRNNConfig:
    """Hyper-parameters of :class:`VRNN` (small CPU-friendly defaults, see module docstring).

    ``resample_threshold``: FIVO resamples when ``ESS < resample_threshold * k``
    (0.5 as in Maddison et al. 2017; 0 never resamples, which makes FIVO equal IWAE_K).
    """

    input_dim: int = 88
    rnn_units: int = 64
    latent: int = 32
    features: int = 64
    likelihood: str = "bernoulli"
    k: int = 1
    objective: str = "elbo"
    estimator: str = "total"
    resample_threshold: float = 0.5
    seed: int = None

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"Unknown objective {self.objective!r}; choose one of {list(OBJECTIVES)}.")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"Unknown likelihood {self.likelihood!r}; choose one of {list(LIKELIHOODS)}.")
        for name in ("input_dim", "rnn_units", "latent", "features"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}.")
            setattr(self, name, int(getattr(self, name)))
        self.k = objectives.check_k(self.k)
        objectives.check_estimator(self.estimator)
        self.resample_threshold = float(self.resample_threshold)


class FilterResult(NamedTuple):
    """What :meth:`VRNN.filter` returns."""

    bound: tf.Tensor  # [batch]: IWAE_k without resampling, else FIVO's log p_hat
    log_weights: LogWeights  # [k, batch] summed terms of each surviving trajectory
    resampled: tf.Tensor  # [batch]: number of resampling steps


def split_inputs(x):
    """``(frames [batch, T, D] float, mask [batch, T] float)`` from a dict or a tensor."""
    if isinstance(x, dict):
        frames = tf.convert_to_tensor(x["frames"])
        mask = tf.cast(x["mask"], frames.dtype) if "mask" in x else tf.ones(tf.shape(frames)[:2])
        return frames, mask
    frames = tf.convert_to_tensor(x)
    return frames, tf.ones(tf.shape(frames)[:2], frames.dtype)


@keras.saving.register_keras_serializable(package="zoo")
class VRNN(DataclassConfig, LatentVariableModel):
    """VRNN over padded sequences; see the module docstring for the model and objectives.

    ``log_weights(x, k)`` gives whole-sequence log-weights ``[k, batch]`` (no resampling),
    so ``objective="elbo" | "vae" | "iwae"`` use :mod:`tfgen.objectives`;
    ``objective="fivo"`` trains :meth:`filter`'s particle-filter bound.
    Keyword arguments are the fields of :class:`VRNNConfig`.
    """

    def __init__(self, name="vrnn", **config):
        keras_kwargs = {key: config.pop(key) for key in {"trainable", "dtype"} & set(config)}
        self.config = c = VRNNConfig(**config)
        fivo = c.objective == "fivo"
        super().__init__(["z"], k=c.k, objective="iwae" if fivo else c.objective,
                         estimator=c.estimator, seed=c.seed, name=name, **keras_kwargs)
        if fivo:
            self.objective, self.bound = "fivo", None
        f = c.features
        self.phi_x = layers.MLP((f, f), activation="relu", name="phi_x")
        self.phi_z = layers.MLP((f,), activation="relu", name="phi_z")
        self.prior = layers.DiagonalGaussian(c.latent, (f,), "relu", name="p_z")
        self.posterior = layers.DiagonalGaussian(c.latent, (f,), "relu", name="q_z")
        if c.likelihood == "bernoulli":
            self.emission = layers.BernoulliLogits(c.input_dim, (f,), "relu", name="p_x")
        else:
            self.emission = layers.Gaussian(c.input_dim, (f,), "relu", variance="learned", name="p_x")
        self.cell = keras.layers.LSTMCell(c.rnn_units, name="lstm")

    def build(self, input_shape=None):
        c = self.config
        self.phi_x.build((None, c.input_dim))
        self.phi_z.build((None, c.latent))
        self.prior.build((None, c.rnn_units))
        self.posterior.build((None, c.features + c.rnn_units))
        self.emission.build((None, c.features + c.rnn_units))
        self.cell.build((None, 2 * c.features))
        self.built = True

    def metric_names(self):
        if self.config.objective == "fivo":
            return [f"fivo_k{self.k}", "reconstruction", "kl", "kl_z", "resampling_rate"]
        return super().metric_names()

    # --- the particle recursion -----------------------------------------------------------
    def filter(self, x, k, resample_threshold=0.0, estimator="total", seed=None):
        """Run ``k`` particles per sequence through time; the core of every objective.

        ``k`` and ``resample_threshold`` may be tensors (one trace serves every value).
        With ``resample_threshold <= 0`` the particles never resample and ``bound`` is
        IWAE_k of the whole-sequence log-weights; otherwise ``bound`` is FIVO's
        ``log p_hat`` (:mod:`tfgen.smc`). ``log_weights`` holds each surviving trajectory's
        summed terms (after resampling, the trajectory of the particle's ancestors) and
        ``resampled`` the number of resampling steps per sequence.
        """
        frames, mask = split_inputs(x)
        frames = tf.cast(frames, self.compute_dtype)
        mask = tf.cast(mask, self.compute_dtype)
        batch, steps = tf.shape(frames)[0], tf.shape(frames)[1]
        c = self.config
        # A tensor threshold always builds the resampling step (ESS < 0 never fires).
        resample = tf.is_tensor(resample_threshold) or resample_threshold > 0
        # Noise is drawn up front so the recursion is a pure function of it.
        eps, uniforms = self._noise(tf.stack([steps, k, batch, c.latent]), seed)
        features = self.phi_x(frames)  # phi_x(x_t) does not depend on the particles
        time_major = [tf.transpose(frames, [1, 0, 2]), tf.transpose(features, [1, 0, 2]),
                      tf.transpose(mask), eps, uniforms]
        zeros_kb = tf.zeros(tf.stack([k, batch]), self.compute_dtype)
        state = tf.zeros(tf.stack([k, batch, c.rnn_units]), self.compute_dtype)
        init = (state, state, zeros_kb, tf.zeros([batch], self.compute_dtype),
                zeros_kb, zeros_kb, zeros_kb, tf.zeros([batch], self.compute_dtype))

        def step(carry, inputs):
            h, cell, log_w, log_p_hat, acc_px, acc_pz, acc_qz, n_resampled = carry
            x_t, fx_t, m_t, eps_t, u_t = inputs
            fx = tf.broadcast_to(fx_t[None], tf.stack([k, batch, c.features]))
            q_params = self.posterior(tf.concat([fx, h], -1))
            z = q_params[0] + q_params[1] * eps_t
            log_q = self.posterior.log_prob(z, *objectives.variational_parameters(q_params, estimator))
            log_p = self.prior.log_prob(z, *self.prior(h))
            fz = self.phi_z(z)
            log_px = self.emission.log_prob(x_t[None], *self.emission(tf.concat([fz, h], -1)))
            m = m_t[None]
            log_px, log_p, log_q = m * log_px, m * log_p, m * log_q
            log_w = log_w + log_px + log_p - log_q
            flat = tf.reshape(tf.concat([fx, fz], -1), [-1, 2 * c.features])
            _, (h_new, c_new) = self.cell(flat, [tf.reshape(h, [-1, c.rnn_units]),
                                                 tf.reshape(cell, [-1, c.rnn_units])])
            keep = m[..., None]
            h = keep * tf.reshape(h_new, tf.shape(h)) + (1.0 - keep) * h
            cell = keep * tf.reshape(c_new, tf.shape(cell)) + (1.0 - keep) * cell
            acc_px, acc_pz, acc_qz = acc_px + log_px, acc_pz + log_p, acc_qz + log_q
            if resample:
                ancestors, log_w, log_p_hat, resampled = smc.resample_step(
                    log_w, log_p_hat, u_t, resample_threshold, active=m_t > 0)
                h, cell, acc_px, acc_pz, acc_qz = (smc.gather_particles(v, ancestors)
                                                   for v in (h, cell, acc_px, acc_pz, acc_qz))
                n_resampled = n_resampled + tf.cast(resampled, n_resampled.dtype)
            return h, cell, log_w, log_p_hat, acc_px, acc_pz, acc_qz, n_resampled

        final = _fold(step, init, time_major)
        _, _, log_w, log_p_hat, acc_px, acc_pz, acc_qz, n_resampled = final
        bound = log_p_hat + smc.log_mean_exp(log_w)
        parts = LogWeights(acc_px + acc_pz - acc_qz, acc_px, {"z": acc_pz}, {"z": acc_qz})
        return FilterResult(bound, parts, n_resampled)

    def _noise(self, shape, seed):
        """``eps ~ N(0, 1)`` of ``shape`` ``[T, k, batch, latent]`` and uniforms ``[T, k, batch]``.

        ``seed``: ``None`` (the model's generator), a ``keras.random.SeedGenerator``, or an
        int / int tensor for stateless draws that repeat exactly (and need no retracing
        inside ``tf.function`` when passed as a tensor).
        """
        if seed is None or isinstance(seed, keras.random.SeedGenerator):
            seed = self.seed_generator if seed is None else seed
            return keras.random.normal(shape, seed=seed), keras.random.uniform(shape[:3], seed=seed)
        seed = tf.cast(seed, "int64")
        return (tf.random.stateless_normal(shape, tf.stack([seed, tf.constant(0, "int64")])),
                tf.random.stateless_uniform(shape[:3], tf.stack([seed, tf.constant(1, "int64")])))

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        """Whole-sequence log-weights ``[k, batch]``: masked sums over time, no resampling."""
        return self.filter(x, k, 0.0, estimator, seed).log_weights

    def fivo(self, x, k, seed=None, estimator="total"):
        """FIVO bound ``[batch]`` with ``k`` particles and this model's resampling threshold."""
        return self.filter(x, k, self.config.resample_threshold, estimator, seed).bound

    # --- Keras plumbing -------------------------------------------------------------------
    def call(self, x, training=False):
        if self.objective == "fivo":
            return self.filter(x, self.k, self.config.resample_threshold, self.estimator)
        return self.log_weights(x, self.k, estimator=self.estimator, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.objective != "fivo":
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        bound, lw, resampled = y_pred
        steps = tf.reduce_sum(split_inputs(x)[1], axis=1)
        values = {
            f"fivo_k{self.k}": bound,
            "reconstruction": tf.reduce_mean(lw.log_px_z, axis=0),
            "kl": lw.kl("z"),
            "kl_z": lw.kl("z"),
            "resampling_rate": resampled / steps,
        }
        for name, value in values.items():
            self.trackers[name].update_state(value, sample_weight=sample_weight)
        return -tf.reduce_mean(bound)

    def predict_step(self, data):
        """Per-sequence training bound (ELBO / IWAE_k / FIVO with the model's k): ``[batch]``."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.objective == "fivo":
            return self.fivo(x, self.k)
        return self.bound(self.log_weights(x, self.k).log_w)

    def _check_data(self, x):
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                self._check_data(batch[0] if isinstance(batch, tuple) else batch)
            return
        if isinstance(x, tuple):
            x = x[0]
        frames = x["frames"] if isinstance(x, dict) else x
        self._check_batch(np.asarray(frames))
        if isinstance(x, dict) and "mask" in x:
            mask = np.asarray(x["mask"])
            if mask.shape != np.shape(frames)[:2] or np.any((mask != 0) & (mask != 1)):
                raise ValueError(f"mask must be 0/1 of shape {np.shape(frames)[:2]}, got {mask.shape}.")

    def validate_inputs(self, x):
        if x.ndim != 3 or x.shape[-1] != self.config.input_dim:
            raise ValueError(
                f"VRNN expects frames of shape (batch, steps, {self.config.input_dim}), got {x.shape}."
            )
        self.emission.validate(x)

    # --- data-dependent initialisation and sampling ---------------------------------------
    def adapt(self, data):
        """Start the emission's bias at the data's mean frame (logit for Bernoulli, mean for Gaussian).

        ``data`` is a dataset of ``{"frames", "mask"}`` batches (padding is ignored).
        """
        mean = sequences.frame_mean(data)
        if not self.built:
            self.build()
        if self.config.likelihood == "bernoulli":
            self.emission.set_bias_from_mean(mean)
        else:
            self.emission.heads["loc"].bias.assign(mean.astype("float32"))

    def sample(self, num, steps, seed=None, binary=True):
        """Ancestral samples ``[num, steps, input_dim]`` from the generative model.

        Each step draws ``z_t ~ p(z_t | h_{t-1})`` and ``x_t ~ p(x_t | z_t, h_{t-1})`` (a
        binary piano roll for the Bernoulli emission; with ``binary=False`` the Bernoulli
        means / Gaussian means are returned instead, but ``x_t`` fed back is always a draw).
        """
        seed = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        if not self.built:
            self.build()
        c = self.config
        h = tf.zeros([num, c.rnn_units])
        cell = tf.zeros([num, c.rnn_units])
        out = []
        for _ in range(steps):
            loc, scale = self.prior(h)
            z = self.prior.sample(loc, scale, seed=seed)
            fz = self.phi_z(z)
            params = self.emission(tf.concat([fz, h], -1))
            if c.likelihood == "bernoulli":
                probs = self.emission.mean(*params)
                x = tf.cast(keras.random.uniform(tf.shape(probs), seed=seed) < probs, "float32")
                out.append(x if binary else probs)
            else:
                x = params[0] + params[1] * keras.random.normal(tf.shape(params[0]), seed=seed)
                out.append(x if binary else params[0])
            _, (h, cell) = self.cell(tf.concat([self.phi_x(x), fz], -1), [h, cell])
        return tf.stack(out, axis=1).numpy()



def _fold(step, init, sequences):
    """``tf.scan``'s last carry without stacking every step's carry."""
    steps = tf.shape(sequences[0])[0]

    def body(t, carry):
        return t + 1, step(carry, [s[t] for s in sequences])

    _, carry = tf.while_loop(lambda t, carry: t < steps, body, (tf.constant(0), init))
    return carry


def evaluate(model, data, iwae_k=1000, fivo_k=None, max_rows=4096, seed=0):
    """Held-out bounds per time step (nats), as the FIVO paper reports JSB (total / steps).

    ``iwae_k`` importance samples estimate ``log p(x)`` (IWAE bound), streamed in chunks of at
    most ``max_rows`` (particle, sequence) pairs and folded by log-sum-exp
    (:class:`tfgen.evaluation.LogLikelihood`; ``0`` skips it);
    ``fivo_k`` particles (default: the model's k) give the FIVO bound, one pass per batch.
    Returns per-step values and totals keyed by bound and k (``iwae_k1000_per_step``,
    ``fivo_k4_total``, ``elbo_per_step`` for one sample, ...) and ``total_steps``.
    """
    fivo_k = objectives.check_k(fivo_k or model.k)
    if iwae_k:
        objectives.check_k(iwae_k)
    seed = keras.random.SeedGenerator(seed)
    model._check_data(data)
    iwae = evaluation.LogLikelihood(model, iwae_k, max_rows, seed) if iwae_k else None

    @tf.function(reduce_retracing=True)
    def fivo_and_elbo(x):
        return (model.filter(x, fivo_k, model.config.resample_threshold, seed=seed).bound,
                model.log_weights(x, 1, seed=seed).log_w[0])

    names = ([f"iwae_k{iwae_k}"] if iwae_k else []) + [f"fivo_k{fivo_k}", "elbo"]
    totals = dict.fromkeys(names, 0.0)
    steps = 0.0
    for batch in data:
        batch = batch[0] if isinstance(batch, tuple) else batch
        _, mask = split_inputs(batch)
        if iwae:  # per batch, so the IWAE, FIVO and ELBO draws interleave as batches arrive
            totals[f"iwae_k{iwae_k}"] += float(np.sum(iwae.batch_estimate(batch).numpy().astype("float64")))
        fivo, elbo = (v.numpy().astype("float64") for v in fivo_and_elbo(batch))
        totals[f"fivo_k{fivo_k}"] += float(fivo.sum())
        totals["elbo"] += float(elbo.sum())
        steps += float(mask.numpy().sum())
    result = {"total_steps": int(steps)}
    for name, total in totals.items():
        result[f"{name}_per_step"] = total / steps
        result[f"{name}_total"] = total
    return result


def paper_optimizer(learning_rate=3e-4):
    """Adam, the optimiser of the FIVO paper's experiments."""
    return keras.optimizers.Adam(learning_rate)
