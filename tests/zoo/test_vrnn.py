"""The VRNN of Chung et al. (2015) with ELBO, IWAE_K and FIVO (Maddison et al. 2017): the particle
filter, whole-sequence log-weights, bounds against an exact log-likelihood, fit (with XLA),
saving, sampling, bad input."""
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import objectives, runs, sequences, smc
from zoo.vrnn import VRNN, HeldOutBounds, VRNNConfig, bounds_per_step, paper_optimizer

TINY = {"input_dim": 6, "rnn_units": 8, "latent": 3, "features": 8}


def binary_batch(n=3, steps=7, seed=0):
    rng = np.random.default_rng(seed)
    frames = (rng.random((n, steps, TINY["input_dim"])) < 0.3).astype("float32")
    mask = sequences.mask_from_lengths(np.linspace(steps, 2, n).astype(int), steps)
    return {"frames": tf.constant(frames * mask[..., None]), "mask": tf.constant(mask)}


def tiny(**kwargs):
    model = VRNN(**{**TINY, "seed": 0, **kwargs})
    model.build()
    return model


def tiny_data(n=8, steps=6, seed=0):
    frames = (np.random.default_rng(seed).random((n, steps, TINY["input_dim"])) < 0.3).astype("float32")
    return sequences.dataset(frames, np.resize([6, 5, 4, 3], n), batch_size=4)


class Filter:
    """``model.filter`` in one ``tf.function`` (``k`` and the threshold as tensors, so one trace
    serves every value), its noise drawn from a generator started at ``seed`` on each call."""

    def __init__(self, model):
        self.noise = keras.random.SeedGenerator(0)
        self.fn = tf.function(lambda x, k, threshold: model.filter(x, k, threshold, seed=self.noise),
                              reduce_retracing=True)

    def __call__(self, x, k, threshold, seed):
        self.noise.state.assign(keras.random.SeedGenerator(seed).state)
        return self.fn(x, tf.constant(k), tf.constant(threshold))


# --- tfgen.smc -------------------------------------------------------------------------
def test_effective_sample_size_and_multinomial_ancestors():
    log_w = tf.math.log(tf.constant([[1.0, 1.0], [1.0, 1e-9], [1.0, 1e-9]]))
    np.testing.assert_allclose(smc.effective_sample_size(log_w).numpy(), [3.0, 1.0], rtol=1e-5)
    probs = np.array([0.1, 0.2, 0.7])
    u = tf.random.stateless_uniform([3, 20000], seed=[1, 2])
    log_w = tf.constant(np.log(probs)[:, None] * np.ones((3, 20000)), tf.float32)
    counts = np.bincount(smc.multinomial_ancestors(log_w, u).numpy().ravel(), minlength=3) / 60000
    np.testing.assert_allclose(counts, probs, atol=0.01)


def test_gather_particles_and_resample_step():
    value = tf.reshape(tf.range(12.0), [3, 2, 2])  # [k, batch, 2]
    picked = smc.gather_particles(value, tf.constant([[2, 0], [2, 1], [0, 1]]))
    np.testing.assert_array_equal(picked.numpy()[:, 0, 0], [8.0, 8.0, 0.0])
    np.testing.assert_array_equal(picked.numpy()[:, 1, 0], [2.0, 6.0, 6.0])
    # A [k, batch] value; its gradient counts how often each particle was picked.
    flat = tf.Variable(tf.reshape(tf.range(6.0), [3, 2]))
    with tf.GradientTape() as tape:
        picked = smc.gather_particles(flat, tf.constant([[2, 0], [2, 1], [0, 1]]))
    np.testing.assert_array_equal(picked.numpy(), [[4.0, 1.0], [4.0, 3.0], [0.0, 3.0]])
    np.testing.assert_array_equal(tf.convert_to_tensor(tape.gradient(picked, flat)).numpy(),
                                  [[1.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    # Row 0: even weights (ESS = k) keeps its particles; row 1: degenerate, resamples.
    log_w = tf.math.log(tf.constant([[1.0, 1e-12], [1.0, 1e-12], [1.0, 1.0]]))
    u = tf.constant([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    ancestors, new_w, log_p_hat, resampled = smc.resample_step(log_w, tf.zeros([2]), u, 0.5)
    np.testing.assert_array_equal(resampled.numpy(), [False, True])
    np.testing.assert_array_equal(ancestors.numpy()[:, 0], [0, 1, 2])
    np.testing.assert_array_equal(ancestors.numpy()[:, 1], [2, 2, 2])
    np.testing.assert_allclose(new_w.numpy()[:, 1], 0.0)
    np.testing.assert_allclose(new_w.numpy()[:, 0], log_w.numpy()[:, 0])
    np.testing.assert_allclose(log_p_hat.numpy(), [0.0, np.log(1 / 3)], atol=1e-5)


# --- log-weights -----------------------------------------------------------------------
def test_log_weights_are_masked_sums_over_time():
    model = tiny()
    run = Filter(model)
    x = binary_batch()
    lw = run(x, 4, 0.0, 1).log_weights
    assert lw.log_w.shape == (4, 3)
    np.testing.assert_allclose(lw.log_w, lw.log_px_z + lw.log_pz["z"] - lw.log_qz["z"], rtol=1e-5)
    # Padded steps do not count: changing frames under mask 0 changes nothing ...
    noisy = dict(x, frames=tf.where(x["mask"][..., None] > 0, x["frames"], 1.0))
    np.testing.assert_allclose(run(noisy, 4, 0.0, 1).log_weights.log_w, lw.log_w, rtol=1e-6)
    # ... while a real step of the shortest sequence does.
    changed = x["frames"].numpy()
    changed[2, 0] = 1.0 - changed[2, 0]
    moved = run(dict(x, frames=tf.constant(changed)), 4, 0.0, 1).log_weights.log_w.numpy()
    assert not np.allclose(moved[:, 2], lw.log_w.numpy()[:, 2])
    # A sum over time, not a mean: recompute the per-step terms by hand with the same noise
    # (the filter's first draw from the generator: eps [steps, k, batch, latent]).
    frames, mask = x["frames"], x["mask"]
    eps = keras.random.normal([7, 1, 3, TINY["latent"]], seed=keras.random.SeedGenerator(5))[:, 0]
    h = c = tf.zeros([3, TINY["rnn_units"]])
    total = np.zeros(3)
    for t in range(7):
        fx = model.phi_x(frames[:, t])
        loc, scale = model.posterior(tf.concat([fx, h], -1))
        z = loc + scale * eps[t]
        fz = model.phi_z(z)
        term = (model.emission.log_prob(frames[:, t], *model.emission(tf.concat([fz, h], -1)))
                + model.prior.log_prob(z, *model.prior(h)) - model.posterior.log_prob(z, loc, scale))
        total += mask[:, t].numpy() * term.numpy()
        _, (h_new, c_new) = model.cell(tf.concat([fx, fz], -1), [h, c])
        keep = mask[:, t:t + 1]
        h, c = keep * h_new + (1 - keep) * h, keep * c_new + (1 - keep) * c
    np.testing.assert_allclose(run(x, 1, 0.0, 5).log_weights.log_w[0], total, rtol=1e-4)


def test_fivo_k1_is_the_elbo_and_without_resampling_is_iwae():
    model = tiny()
    run = Filter(model)
    x = binary_batch()
    elbo = run(x, 1, 0.0, 3).log_weights.log_w[0]
    np.testing.assert_allclose(run(x, 1, 0.5, 3).bound, elbo, rtol=1e-5)
    iwae = objectives.iwae(run(x, 5, 0.0, 4).log_weights.log_w)
    np.testing.assert_allclose(run(x, 5, 0.0, 4).bound, iwae, rtol=1e-5)
    always = run(x, 5, 1.01, 4)  # threshold above 1: every step resamples
    np.testing.assert_array_equal(always.resampled, x["mask"].numpy().sum(1))
    np.testing.assert_array_equal(always.steps, x["mask"].numpy().sum(1))
    assert not np.allclose(always.bound, iwae)


def test_bounds_below_exact_log_likelihood_when_z_does_not_affect_x():
    """With phi_z = 0, x does not depend on z: log p(x) = sum_t log p(x_t | h_{t-1}) exactly.

    Then ``log_w - log p(x) = sum_t log p(z_t | h) - log q(z_t | .)`` whose exponential has
    mean 1 at every step. Here p(z_t | h) = N(0, I) and q = N(0.7, I), so the weights have
    finite variance (exp(3 * 0.7^2) - 1 per step) and the bounds visible gaps.
    """
    model = tiny()
    run = Filter(model)
    dense_layers = list(model.phi_z.dense) + [model.prior.heads[n] for n in ("loc", "log_scale")] + [
        model.posterior.heads[n] for n in ("loc", "log_scale")]
    for dense in dense_layers:
        dense.kernel.assign(tf.zeros_like(dense.kernel))
        if dense not in model.phi_z.dense:
            dense.bias.assign(tf.zeros_like(dense.bias))
    model.posterior.heads["loc"].bias.assign(tf.fill([TINY["latent"]], 0.7))
    x = binary_batch(n=4, steps=10, seed=5)
    lw = run(x, 3, 0.0, 0).log_weights
    exact = lw.log_px_z[0].numpy()
    np.testing.assert_allclose(lw.log_px_z.numpy(), np.broadcast_to(exact, (3, 4)), rtol=1e-6)
    # 32 independent replicas of each sequence: mean and standard error of each bound.
    reps = {key: tf.tile(value, [32] + [1] * (value.shape.rank - 1)) for key, value in x.items()}
    no_resampling = run(reps, 8, 0.0, 1)
    stats = {}
    for name, values in {
        "elbo": tf.reduce_mean(no_resampling.log_weights.log_w, 0),
        "iwae": no_resampling.bound,
        "fivo": run(reps, 8, 0.5, 2).bound,
    }.items():
        values = values.numpy().reshape(32, 4)
        stats[name] = values.mean(0), values.std(0) / np.sqrt(32)
    for name in ("iwae", "fivo"):
        mean, se = stats[name]
        assert np.all(mean - 3 * se < exact), name  # never significantly above log p(x)
        assert np.all(stats["elbo"][0] + 3 * stats["elbo"][1] < mean), name
    assert np.all(stats["elbo"][0] < exact - 1.0)
    # With many particles the particle filter gets close to log p(x); IWAE (no resampling)
    # with as many samples stays far below, the weights of whole sequences being degenerate.
    fivo, iwae = run(x, 512, 0.5, 3).bound.numpy(), run(x, 512, 0.0, 3).bound.numpy()
    np.testing.assert_allclose(fivo, exact, atol=1.0)  # std of log p_hat ~ sqrt(10 * 3.3 / 512)
    assert np.all(exact - iwae > 2 * (exact - fivo))


# --- training, saving, sampling, bad input -----------------------------------------------
def test_fit_fivo_logs_its_bound_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny(objective="fivo", k=2)
    data = tiny_data()
    model.adapt(data)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=paper_optimizer(1e-2))
    logs = {key: values[-1] for key, values in model.fit(data, epochs=1, verbose=0).history.items()}
    assert set(logs) == {"loss", "fivo_k2", "reconstruction", "kl", "kl_z", "resampling_rate"}
    assert all(np.isfinite(value) for value in logs.values()) and 0.0 <= logs["resampling_rate"] <= 1.0
    np.testing.assert_allclose(logs["loss"], -logs["fivo_k2"], rtol=1e-5)
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    runs.save(model, str(tmp_path), {"dataset": "jsb"}, "vrnn")
    loaded, _ = runs.load(str(tmp_path))
    assert loaded.get_config() == model.get_config()
    batch = next(iter(data))
    np.testing.assert_allclose(loaded.fivo(batch, 2, seed=1), model.fivo(batch, 2, seed=1), rtol=1e-5)
    assert model.predict(data, verbose=0).shape == (8,)  # the per-sequence training bound


@pytest.mark.parametrize("objective,k", [("elbo", 1), ("iwae", 3), ("fivo", 3)])
def test_fit_compiles_with_xla(objective, k):
    """Keras turns XLA on by default on GPUs: the time loop and its gradient must compile."""
    keras.utils.set_random_seed(0)
    model = tiny(objective=objective, k=k, resample_threshold=0.9)  # FIVO resamples often
    model.compile(optimizer=paper_optimizer(1e-2), jit_compile=True)
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = {key: values[-1] for key, values in model.fit(tiny_data(n=4), epochs=1, verbose=0).history.items()}
    bound = {"elbo": "elbo", "iwae": f"iwae_k{k}", "fivo": f"fivo_k{k}"}[objective]
    assert all(np.isfinite(value) for value in logs.values())
    np.testing.assert_allclose(logs["loss"], -logs[bound], rtol=1e-5)
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    if objective == "fivo":
        assert 0.0 < logs["resampling_rate"] <= 1.0


def test_the_time_loop_stops_at_the_batch_s_longest_sequence(monkeypatch):
    """Batches kept at the data's padded length (one XLA program) run only their real steps."""
    model = tiny()
    frames = (np.random.default_rng(0).random((2, 20, TINY["input_dim"])) < 0.3).astype("float32")
    x = {"frames": frames, "mask": sequences.mask_from_lengths([4, 3], 20)}
    model(x)
    steps, cell = [], model.cell.call
    monkeypatch.setattr(model.cell, "call", lambda *a, **kw: steps.append(1) or cell(*a, **kw))
    result = model.filter(x, 2, seed=0)  # eagerly: the loop's body runs once per step, in Python
    assert len(steps) == 4 and result.steps.numpy().tolist() == [4, 3]


def test_sample_is_a_binary_piano_roll_and_repeats_with_a_seed():
    model = tiny()
    rolls = model.sample(2, 5, seed=7)
    assert rolls.shape == (2, 5, 6) and set(np.unique(rolls)) <= {0.0, 1.0}
    np.testing.assert_array_equal(rolls, model.sample(2, 5, seed=7))
    gauss = tiny(likelihood="gaussian").sample(1, 4, seed=0, binary=False)
    assert gauss.shape == (1, 4, 6) and np.all(np.isfinite(gauss))


def test_sampling_runs_the_generative_recursion_on_its_noise():
    """The traced loop of ``sample`` against the model's equations, step by step, eagerly."""
    model = tiny()
    c, rng = model.config, np.random.default_rng(0)
    eps = rng.standard_normal((3, 2, c.latent)).astype("float32")
    u = rng.random((3, 2, c.input_dim)).astype("float32")
    means = model._generate(eps, u, False).numpy()
    draws = model._generate(eps, u, True).numpy()
    h = cell = tf.zeros([2, c.rnn_units])
    for t in range(3):
        loc, scale = model.prior(h)
        fz = model.phi_z(loc + scale * eps[t])
        mean = model.emission.mean(*model.emission(tf.concat([fz, h], -1)))
        x = tf.cast(u[t] < mean, "float32")
        np.testing.assert_allclose(means[:, t], mean, atol=1e-5)
        np.testing.assert_array_equal(draws[:, t], x)
        _, (h, cell) = model.cell(tf.concat([model.phi_x(x), fz], -1), [h, cell])


def test_named_configurations_and_config_round_trip():
    reference = VRNN.from_config_name("maddison2017")
    c = reference.config
    assert (c.rnn_units, c.latent, c.features, c.objective, c.k) == (64, 64, 64, "fivo", 4)
    assert VRNN.from_config_name("maddison2017", k=8).k == 8
    model = tiny(objective="iwae", k=3, estimator="path")
    assert VRNN.from_config(model.get_config()).config == model.config
    assert VRNNConfig() == VRNN.configs.get("cpu")


def test_configs_and_cli_import_no_tensorflow():
    code = ("import sys, zoo.vrnn, zoo.vrnn.configs, zoo.vrnn.cli; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("fields,message", [
    ({"objective": "rws"}, "objective"),
    ({"likelihood": "poisson"}, "likelihood"),
    ({"k": 0}, "k must be"),
    ({"latent": 0}, "latent must be"),
    ({"resample_threshold": -0.5}, "resample_threshold"),
])
def test_bad_configuration(fields, message):
    with pytest.raises(ValueError, match=message):
        VRNN(**fields)


def test_bad_input():
    model = tiny()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"\(batch, steps, 6\)"):
        model.fit(np.zeros((2, 4, 5), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="binary"):
        model.fit(np.full((2, 4, 6), 0.5, "float32"), epochs=1, verbose=0)
    frames = np.zeros((2, 4, 6), "float32")
    with pytest.raises(ValueError, match="mask must be 0/1"):
        model.evaluate({"frames": frames, "mask": np.full((2, 4), 0.5, "float32")}, verbose=0)
    with pytest.raises(ValueError, match="'frames'"):
        model.evaluate({"frame": frames}, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.evaluate({"frames": np.full((2, 4, 6), np.nan, "float32")}, verbose=0)


def test_bounds_per_step_in_order_and_repeatable():
    keras.utils.set_random_seed(0)  # the weights, whatever ran before
    model = tiny(k=4)
    frames = np.tile(binary_batch(n=5, steps=6)["frames"].numpy(), [20, 1, 1])  # 100 sequences: the
    data = sequences.dataset(frames, np.tile([6, 5, 4, 3, 2], 20), 50)  # one-sample ELBO averages out
    result = bounds_per_step(model, data, iwae_k=64, max_rows=1024)
    assert result["total_steps"] == 400
    assert result["elbo"] < result["iwae_k64"] < 0
    np.testing.assert_allclose(result["iwae_k64"], result["iwae_k64_total"] / 400)
    np.testing.assert_allclose(result["fivo_k4"], result["fivo_k4_total"] / 400)
    assert bounds_per_step(model, data, iwae_k=64, max_rows=1024) == result  # the seed repeats it
    assert set(bounds_per_step(model, data, iwae_k=0, fivo_k=2)) == {"fivo_k2", "elbo", "fivo_k2_total",
                                                                      "elbo_total", "total_steps"}


def test_held_out_bounds_trace_once_and_repeat_bounds_per_step():
    """Held by a callback that evaluates every few epochs: one trace, each call from the seed."""
    keras.utils.set_random_seed(0)
    model = tiny(k=3)
    data = sequences.dataset(binary_batch(n=5, steps=6)["frames"].numpy(), np.array([6, 5, 4, 3, 2]), 5)
    bounds = HeldOutBounds(model, iwae_k=8, seed=3)
    figures = [bounds(data) for _ in range(6)]
    assert all(f == figures[0] for f in figures)
    assert figures[0] == bounds_per_step(model, data, iwae_k=8, seed=3)
    assert bounds.fivo_and_elbo.experimental_get_tracing_count() == 1
    assert bounds.iwae.batch_estimate.experimental_get_tracing_count() == 1
