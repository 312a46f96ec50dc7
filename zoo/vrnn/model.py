"""The variational RNN of Chung et al., "A Recurrent Latent Variable Model for Sequential Data"
(NIPS 2015), trained with the ELBO, VAE_K, IWAE_K or FIVO (Maddison et al., "Filtering
Variational Objectives", NIPS 2017).

Generative model and inference network, for ``t = 1..T`` (Chung et al. 2015, eqs. 5-9)::

    prior      p(z_t | h_{t-1})        = N(mu_0(h_{t-1}), diag sigma_0(h_{t-1})^2)
    posterior  q(z_t | x_t, h_{t-1})   = N(mu_z(phi_x(x_t), h_{t-1}), diag sigma_z(.)^2)
    emission   p(x_t | z_t, h_{t-1})   = Bernoulli(logits(phi_z(z_t), h_{t-1}))   piano rolls
                                       | N(mu_x(.), diag sigma_x(.)^2)             real frames
    recurrence h_t = LSTM([phi_x(x_t), phi_z(z_t)], h_{t-1})

Whole-sequence log importance weights (one per sampled trajectory ``z_{1:T}``)::

    log_w = sum_{t <= length} [log p(x_t | z_t, h_{t-1}) + log p(z_t | h_{t-1})
                               - log q(z_t | x_t, h_{t-1})]

are a SUM over time (never a mean) of the masked per-step terms, so ``mean_k log_w``
(ELBO / VAE_K) and ``log mean_k exp(log_w)`` (IWAE_K) are bounds on ``log p(x_{1:T})``; with a
mean over time the latter would only loosely bound ``log p(x) / T`` and the differences between
the weights would shrink by a factor ``T`` (docs/vrnn.md). ``objective="fivo"`` runs the particle filter of
:mod:`tfgen.smc` instead: multinomial resampling when ``ESS < resample_threshold * k``, no
gradient through the resampling.

Inputs: a dict ``{"frames": [batch, T, D], "mask": [batch, T]}`` as :mod:`tfgen.sequences`
yields, or a plain ``[batch, T, D]`` tensor of full-length sequences. Hyper-parameters and
named configurations: :mod:`zoo.vrnn.configs`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import data_checks, evaluation, layers, noise, objectives, optimizers, sequences, smc
from tfgen.data_checks import check_numeric
from tfgen.model import LatentVariableModel, LogWeights, SeedLike
from zoo.vrnn.configs import CONFIGS, VRNNConfig

INPUT_KEYS = ("frames", "mask")


class FilterResult(NamedTuple):
    """What :meth:`VRNN.filter` (and so ``VRNN.call``) returns."""

    bound: tf.Tensor  # [batch]: IWAE_k without resampling, else FIVO's log p_hat (nats per sequence)
    log_weights: LogWeights  # [k, batch]: summed terms of each surviving trajectory
    resampled: tf.Tensor  # [batch]: resampling steps per sequence
    steps: tf.Tensor  # [batch]: real (unmasked) steps per sequence


def split_inputs(x: dict | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(frames [batch, T, D], mask [batch, T])`` from a dict or a tensor (mask of ones).

    Padded steps (mask 0) are set to zero, whatever they held (users pad with 1e3, -999 or
    NaN): masked terms are multiplied by 0, and ``0 * inf`` would be NaN.
    """
    frames = tf.convert_to_tensor(x["frames"] if isinstance(x, dict) else x)
    if isinstance(x, dict) and "mask" in x:
        mask = tf.cast(x["mask"], frames.dtype)
        return tf.where(mask[..., None] > 0, frames, tf.zeros_like(frames)), mask
    return frames, tf.ones(tf.shape(frames)[:2], frames.dtype)


@keras.saving.register_keras_serializable(package="zoo")
class VRNN(LatentVariableModel):
    """VRNN over padded sequences; see the module docstring for the model and the objectives.

    Keyword arguments are the fields of :class:`zoo.vrnn.configs.VRNNConfig`;
    ``VRNN.from_config_name("maddison2017")`` starts from a named configuration.
    ``call`` runs :meth:`filter` with the model's ``k`` (resampling only for FIVO);
    :meth:`log_weights` gives whole-sequence log-weights ``[k, batch]``, so the ELBO, VAE_K
    and IWAE_K bounds, :mod:`tfgen.evaluation` and the logged ``elbo`` / ``iwae_k{k}`` work as
    for every model; FIVO logs ``fivo_k{k}`` and ``resampling_rate`` instead.

    Raises ``ValueError`` for bad hyper-parameters, and (``fit``, ``evaluate``) for frames not
    ``[batch, steps, input_dim]``, non-binary frames under the Bernoulli emission, or a mask
    that is not 0/1 of shape ``[batch, steps]``.
    """

    config_class = VRNNConfig
    configs = CONFIGS

    def __init__(self, name: str = "vrnn", **fields: Any):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        # FIVO is no function of whole-sequence weights: bound_of replaces the bound (IWAE is
        # what FIVO becomes without resampling).
        super().__init__(["z"], k=c.k, bound="iwae" if self.is_fivo else c.objective, estimator=c.estimator,
                         seed=c.seed, name=name, **keras_kwargs)
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

    @property
    def is_fivo(self) -> bool:
        """Whether the model trains FIVO (and so resamples during training)."""
        return self.config.objective == "fivo"

    def build(self, input_shape=None):
        c = self.config
        self.phi_x.build((None, c.input_dim))
        self.phi_z.build((None, c.latent))
        self.prior.build((None, c.rnn_units))
        self.posterior.build((None, c.features + c.rnn_units))
        self.emission.build((None, c.features + c.rnn_units))
        self.cell.build((None, 2 * c.features))
        self.built = True

    def input_signature(self):
        """``{"frames": [None, None, input_dim], "mask": [None, None]}`` float32, for :meth:`export`."""
        return {"frames": tf.TensorSpec((None, None, self.config.input_dim), tf.float32, name="frames"),
                "mask": tf.TensorSpec((None, None), tf.float32, name="mask")}

    # --- the particle recursion -----------------------------------------------------------
    def filter(self, x: dict | tf.Tensor, k: int | tf.Tensor, resample_threshold: float | tf.Tensor = 0.0,
               estimator: str = "total", seed: SeedLike = None) -> FilterResult:
        """Run ``k`` particles per sequence through time; the core of every objective.

        Args:
            x: ``{"frames": [batch, T, D], "mask": [batch, T]}`` or frames ``[batch, T, D]``.
            k: particles per sequence (an int, or a scalar tensor).
            resample_threshold: resample a sequence's particles when their effective sample
                size is below ``resample_threshold * k``; a Python ``<= 0`` never resamples (a
                tensor always builds the resampling step).
            estimator: gradient estimator of ``log q`` (:mod:`tfgen.objectives`).
            seed: the noise (:meth:`seed_stream`): ``None`` the model's generator, an int or a
                ``keras.random.SeedGenerator``.

        Returns:
            :class:`FilterResult`: ``bound`` is IWAE_k of the whole-sequence log-weights when
            the particles never resample, else FIVO's ``log p_hat`` (:mod:`tfgen.smc`);
            ``log_weights`` holds each surviving trajectory's summed terms (after resampling,
            the trajectory of the particle's ancestors). All in nats per sequence.
        """
        frames, mask = split_inputs(x)
        frames = tf.cast(frames, self.compute_dtype)
        mask = tf.cast(mask, self.compute_dtype)
        batch, steps = tf.shape(frames)[0], tf.shape(frames)[1]
        c = self.config
        resample = tf.is_tensor(resample_threshold) or resample_threshold > 0
        # Noise is drawn up front, so the recursion is a pure function of it.
        seed = self.seed_stream(seed)
        eps = noise.normal(tf.stack([steps, k, batch, c.latent]), seed)
        uniforms = noise.uniform(tf.stack([steps, k, batch]), seed)
        features = self.phi_x(frames)  # phi_x(x_t) does not depend on the particles
        time_major = [tf.transpose(frames, [1, 0, 2]), tf.transpose(features, [1, 0, 2]),
                      tf.transpose(mask), eps, uniforms]
        zeros_kb = tf.zeros(tf.stack([k, batch]), self.compute_dtype)
        zeros_b = tf.zeros([batch], self.compute_dtype)
        state = tf.zeros(tf.stack([k, batch, c.rnn_units]), self.compute_dtype)
        init = (state, state, zeros_kb, zeros_b, zeros_kb, zeros_kb, zeros_kb, zeros_b)

        def step(carry, inputs):
            h, cell, log_w, log_p_hat, acc_px, acc_pz, acc_qz, n_resampled = carry
            x_t, fx_t, m_t, eps_t, u_t = inputs
            # phi_x(x_t) for every particle. Not tf.broadcast_to: its gradient reads the target
            # shape back as a tensor, which inside the loop's gradient XLA cannot resolve.
            fx = fx_t[None] + tf.zeros_like(h[..., :1])
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
            keep = m[..., None]  # an ended sequence keeps its state
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

        lengths = tf.reduce_sum(mask, axis=1)
        trip = tf.cast(tf.reduce_max(lengths), "int32")  # later steps are all padding
        _, _, log_w, log_p_hat, acc_px, acc_pz, acc_qz, n_resampled = _fold(step, init, time_major, trip)
        parts = LogWeights(acc_px + acc_pz - acc_qz, acc_px, {"z": acc_pz}, {"z": acc_qz})
        return FilterResult(log_p_hat + smc.log_mean_exp(log_w), parts, n_resampled, lengths)

    def log_weights(self, x: dict | tf.Tensor, k: int, estimator: str = "total", seed: SeedLike = None,
                    training: bool = False) -> LogWeights:
        """Whole-sequence log-weights ``[k, batch]`` (masked sums over time, no resampling)."""
        return self.filter(x, k, 0.0, estimator, seed).log_weights

    def fivo(self, x: dict | tf.Tensor, k: int, seed: SeedLike = None, estimator: str = "total") -> tf.Tensor:
        """FIVO bound ``[batch]`` (nats per sequence) with ``k`` particles and the model's threshold."""
        return self.filter(x, k, self.config.resample_threshold, estimator, seed).bound

    # --- the base hooks -------------------------------------------------------------------
    def call(self, x, training=False):
        """:meth:`filter` with the model's ``k``, resampling only when the objective is FIVO."""
        threshold = self.config.resample_threshold if self.is_fivo else 0.0
        return self.filter(x, self.k, threshold, self.estimator)

    def bound_of(self, outputs: FilterResult) -> tf.Tensor:
        """FIVO's ``log p_hat`` for ``objective="fivo"``, else the named bound of ``log_w``: ``[batch]``."""
        return outputs.bound if self.is_fivo else super().bound_of(outputs)

    def metric_names(self):
        if self.is_fivo:
            return [f"fivo_k{self.k}", "reconstruction", "kl", "kl_z", "resampling_rate"]
        return super().metric_names()

    def track(self, outputs: FilterResult) -> dict[str, tf.Tensor]:
        """The base metrics; with FIVO ``fivo_k{k}`` instead of ``elbo`` / ``iwae_k{k}`` (the
        surviving trajectories' weights bound nothing), and ``resampling_rate``, the fraction
        of a sequence's steps that resampled."""
        if not self.is_fivo:
            return super().track(outputs)
        lw = outputs.log_weights
        return {
            f"fivo_k{self.k}": outputs.bound,
            "reconstruction": tf.reduce_mean(lw.log_px_z, axis=0),
            "kl": lw.kl("z"),
            "kl_z": lw.kl("z"),
            "resampling_rate": outputs.resampled / tf.maximum(outputs.steps, 1.0),
        }

    def validate_inputs(self, x):
        """Frames ``[batch, steps, input_dim]`` (binary for the Bernoulli emission), with an
        optional 0/1 ``mask [batch, steps]`` when ``x`` is a dict of NumPy arrays; padded steps
        may hold anything (they are zeroed, :func:`split_inputs`)."""
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(INPUT_KEYS))
            if "frames" not in x or unknown:
                raise ValueError(f"VRNN inputs are a dict with 'frames' [batch, steps, D] and optionally "
                                 f"'mask' [batch, steps], got keys {sorted(x)}.")
            frames = np.asarray(x["frames"])
        else:
            frames = x
        if frames.ndim != 3 or frames.shape[-1] != self.config.input_dim:
            raise ValueError(
                f"VRNN expects frames of shape (batch, steps, {self.config.input_dim}), got {frames.shape}.")
        if isinstance(x, dict) and "mask" in x:
            mask = np.asarray(x["mask"])
            if mask.shape != frames.shape[:2] or np.any((mask != 0) & (mask != 1)):
                raise ValueError(f"mask must be 0/1 of shape {frames.shape[:2]}, got shape {mask.shape}.")
            frames = np.where(mask[..., None] > 0, frames, 0)
        self.emission.validate(check_numeric(frames))

    def batch_conditions(self, x):
        """The real steps' frames finite (binary for the Bernoulli emission), traced."""
        frames, _ = split_inputs(x)
        conditions = [(data_checks.all_finite(frames), data_checks.NOT_FINITE)]
        if self.config.likelihood == "bernoulli":
            conditions.append((data_checks.all_binary(frames), data_checks.NOT_BINARY))
        return conditions

    # --- data-dependent initialisation and sampling ---------------------------------------
    def adapt(self, data: tf.data.Dataset) -> None:
        """Start the emission's bias at the mean training frame (its logit for the Bernoulli
        emission), padding ignored; ``data`` is a dataset of ``{"frames", "mask"}`` batches."""
        mean = sequences.frame_mean(data)
        if not self.built:
            self.build()
        self.emission.set_bias_from_mean(mean)

    def sample(self, num: int, steps: int, seed: SeedLike = None, binary: bool = True) -> np.ndarray:
        """Ancestral samples ``[num, steps, input_dim]`` (NumPy) from the generative model.

        Each step draws ``z_t ~ p(z_t | h_{t-1})`` and ``x_t ~ p(x_t | z_t, h_{t-1})`` (a binary
        piano roll under the Bernoulli emission); with ``binary=False`` the emission's means
        are returned instead, though the ``x_t`` fed back is always a draw. ``seed``: see
        :meth:`seed_stream`. The noise is drawn up front and the recursion runs as one traced
        loop (the run driver draws a picture after every epoch).
        """
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        c = self.config
        eps = noise.normal([steps, num, c.latent], seed)
        draw = noise.uniform if c.likelihood == "bernoulli" else noise.normal
        return self._generate(eps, draw([steps, num, c.input_dim], seed), binary).numpy()

    @tf.function(reduce_retracing=True)
    def _generate(self, eps: tf.Tensor, emission_noise: tf.Tensor, binary: bool) -> tf.Tensor:
        """:meth:`sample` from its noise: ``eps`` ``[steps, num, latent]`` standard normal for
        ``z_t``, ``emission_noise`` ``[steps, num, input_dim]`` uniform (Bernoulli emission) or
        standard normal (Gaussian) for ``x_t``; returns ``[num, steps, input_dim]``."""
        c = self.config
        num = tf.shape(eps)[1]
        state = tf.zeros(tf.stack([num, c.rnn_units]))

        def step(carry, noise_t):
            h, cell, _ = carry
            eps_t, u_t = noise_t
            loc, scale = self.prior(h)
            fz = self.phi_z(loc + scale * eps_t)
            params = self.emission(tf.concat([fz, h], -1))
            mean = self.emission.mean(*params)
            if c.likelihood == "bernoulli":
                x = tf.cast(u_t < mean, mean.dtype)
            else:
                x = params[0] + params[1] * u_t
            _, (h, cell) = self.cell(tf.concat([self.phi_x(x), fz], -1), [h, cell])
            return h, cell, x if binary else mean

        first = (state, state, tf.zeros(tf.stack([num, c.input_dim])))
        return tf.transpose(tf.scan(step, (eps, emission_noise), first)[2], [1, 0, 2])


def _fold(step, init, sequences, trip):
    """The last carry of ``step`` over the first ``trip`` steps of the time-major ``sequences``
    (``tf.scan`` without the stacked carries).

    ``maximum_iterations``, the sequences' padded length, sizes the lists in which the gradient
    keeps every step's intermediate values, which XLA needs to know (``jit_compile=True``,
    Keras' default on GPUs) and TensorFlow otherwise grows step by step. The trip count is a
    tensor, so batches padded to one length (one XLA program) run only their real steps.
    """
    steps = tf.shape(sequences[0])[0]

    def body(t, carry):
        return t + 1, step(carry, [s[t] for s in sequences])

    _, carry = tf.while_loop(lambda t, carry: t < trip, body, (tf.constant(0), init),
                             maximum_iterations=steps)
    return carry


def bounds_per_step(model: VRNN, data: tf.data.Dataset, iwae_k: int = 1000, fivo_k: int | None = None,
                    seed: int = 0, max_rows: int = 4096, verbose: int = 0) -> dict[str, float]:
    """Held-out bounds in nats per time step (total over sequences / total real steps), the
    unit in which Maddison et al. (2017) report JSB Chorales.

    Args:
        model: a :class:`VRNN`.
        data: a dataset of ``{"frames", "mask"}`` batches.
        iwae_k: importance samples of the IWAE_k estimate of ``log p(x)``, streamed in chunks
            of at most ``max_rows`` (particle, sequence) rows (:class:`tfgen.evaluation.LogLikelihood`);
            0 skips it.
        fivo_k: particles of the FIVO bound (default: the model's k).
        seed: seed of every draw; the same seed on the same weights and batches repeats the
            figures. Per batch the IWAE_k draws come first, then FIVO's, then the ELBO's.
        verbose: a progress bar over batches.

    Returns:
        ``{"iwae_k{K}": ..., "fivo_k{F}": ..., "elbo": ...}`` per step (the one-sample ELBO),
        the same names with ``_total`` (nats over the whole split) and ``total_steps``.
        :class:`HeldOutBounds` is the same measurement traced once for repeated calls.
    """
    return HeldOutBounds(model, iwae_k, fivo_k, seed, max_rows)(data, verbose)


class HeldOutBounds:
    """:func:`bounds_per_step` as a reusable measurement: its graphs are traced once, and every
    call starts the noise from ``seed`` again (callbacks that evaluate every few epochs hold one,
    as :class:`tfgen.evaluation.LogLikelihood`)."""

    def __init__(self, model: VRNN, iwae_k: int = 1000, fivo_k: int | None = None, seed: int = 0,
                 max_rows: int = 4096):
        self.model, self.iwae_k = model, iwae_k
        self.fivo_k = objectives.check_k(fivo_k or model.k)
        self.seed = keras.random.SeedGenerator(seed)
        self.initial_state = self.seed.state.numpy()
        self.iwae = evaluation.LogLikelihood(model, iwae_k, max_rows, self.seed) if iwae_k else None
        self.fivo_and_elbo = tf.function(self._fivo_and_elbo, reduce_retracing=True)

    def _fivo_and_elbo(self, x):
        return (self.model.fivo(x, self.fivo_k, seed=self.seed),
                self.model.log_weights(x, 1, seed=self.seed).log_w[0])

    def __call__(self, data: tf.data.Dataset, verbose: int = 0) -> dict[str, float]:
        """The figures of :func:`bounds_per_step` on ``data``."""
        self.model.check_data(data)
        self.seed.state.assign(self.initial_state)
        iwae_k, fivo_k = self.iwae_k, self.fivo_k
        names = ([f"iwae_k{iwae_k}"] if iwae_k else []) + [f"fivo_k{fivo_k}", "elbo"]
        totals = dict.fromkeys(names, 0.0)
        steps = 0.0
        batches = data.cardinality().numpy()
        progress = keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose)
        for i, batch in enumerate(data):
            batch = batch[0] if isinstance(batch, tuple) else batch
            if self.iwae:  # per batch, so the IWAE, FIVO and ELBO draws interleave as batches arrive
                estimates = self.iwae.batch_estimate(batch).numpy().astype("float64")
                totals[f"iwae_k{iwae_k}"] += float(np.sum(estimates))
            fivo, elbo = (v.numpy().astype("float64") for v in self.fivo_and_elbo(batch))
            totals[f"fivo_k{fivo_k}"] += float(fivo.sum())
            totals["elbo"] += float(elbo.sum())
            steps += float(split_inputs(batch)[1].numpy().sum())
            progress.update(i + 1)
        result = {name: total / steps for name, total in totals.items()}
        result.update({f"{name}_total": total for name, total in totals.items()}, total_steps=int(steps))
        return result


def paper_optimizer(learning_rate: float = 2e-4, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """Adam, as Maddison et al. (2017) train; 2e-4 is their reference code's default rate
    (docs/vrnn.md trains with 1e-3).

    ``weight_decay > 0`` gives ``keras.optimizers.AdamW``: after each Adam step every weight
    shrinks by ``learning_rate * weight_decay`` of itself (decoupled weight decay, Loshchilov &
    Hutter, "Decoupled Weight Decay Regularization", ICLR 2019). Our addition against the
    overfitting of 229 training chorales (docs/vrnn.md); Pyro's deep Markov model regularises
    with an L2 penalty too.
    """
    if weight_decay:
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    return optimizers.Adam(learning_rate)
