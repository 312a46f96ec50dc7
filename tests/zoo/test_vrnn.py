import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import runs, sequences, smc
from zoo import cli, vrnn

TINY = {"input_dim": 6, "rnn_units": 8, "latent": 3, "features": 8}


def binary_batch(n=3, steps=7, seed=0):
    rng = np.random.default_rng(seed)
    frames = (rng.random((n, steps, TINY["input_dim"])) < 0.3).astype("float32")
    mask = sequences.mask_from_lengths(np.linspace(steps, 2, n).astype(int), steps)
    return {"frames": tf.constant(frames * mask[..., None]), "mask": tf.constant(mask)}


def tiny(**kwargs):
    model = vrnn.VRNN(**{**TINY, "seed": 0, **kwargs})
    model.build()
    return model


def compiled_filter(model):
    """``model.filter`` in a tf.function: tensor seeds give stateless draws without retracing."""
    fn = tf.function(lambda x, k, threshold, seed: model.filter(x, k, threshold, seed=seed),
                     reduce_retracing=True)
    return lambda x, k, threshold, seed: fn(x, tf.constant(k), tf.constant(threshold),
                                            tf.constant(seed, "int64"))


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
    run = compiled_filter(model)
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
    # A sum over time, not a mean: recompute the per-step terms by hand with the same noise.
    frames, mask = x["frames"], x["mask"]
    eps = tf.random.stateless_normal([7, 1, 3, TINY["latent"]], tf.constant([5, 0], "int64"))[:, 0]
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
    run = compiled_filter(model)
    x = binary_batch()
    elbo = run(x, 1, 0.0, 3).log_weights.log_w[0]
    np.testing.assert_allclose(run(x, 1, 0.5, 3).bound, elbo, rtol=1e-5)
    iwae = vrnn.objectives.iwae(run(x, 5, 0.0, 4).log_weights.log_w)
    np.testing.assert_allclose(run(x, 5, 0.0, 4).bound, iwae, rtol=1e-5)
    always = run(x, 5, 1.01, 4)  # threshold above 1: every step resamples
    np.testing.assert_array_equal(always.resampled, x["mask"].numpy().sum(1))
    assert not np.allclose(always.bound, iwae)


def test_bounds_below_exact_log_likelihood_when_z_does_not_affect_x():
    """With phi_z = 0, x does not depend on z: log p(x) = sum_t log p(x_t | h_{t-1}) exactly.

    Then ``log_w - log p(x) = sum_t log p(z_t | h) - log q(z_t | .)`` whose exponential has
    mean 1 at every step. Here p(z_t | h) = N(0, I) and q = N(0.7, I), so the weights have
    finite variance (exp(3 * 0.7^2) - 1 per step) and the bounds visible gaps.
    """
    model = tiny()
    run = compiled_filter(model)
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
@pytest.mark.parametrize("objective", ["fivo"])  # iwae: fitted in the CLI test below
def test_fit_logs_the_objective_and_round_trips(tmp_path, objective):
    keras.utils.set_random_seed(0)
    model = tiny(objective=objective, k=2)
    rng = np.random.default_rng(0)
    frames = (rng.random((8, 6, 6)) < 0.3).astype("float32")
    data = sequences.dataset(frames, np.array([6, 5, 4, 3, 6, 5, 4, 3]), batch_size=4)
    model.adapt(data)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=vrnn.paper_optimizer(1e-2))
    logs = {key: values[-1] for key, values in model.fit(data, epochs=1, verbose=0).history.items()}
    assert all(np.isfinite(value) for value in logs.values())
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    if objective == "fivo":
        assert "elbo" not in logs and 0.0 <= logs["resampling_rate"] <= 1.0
        np.testing.assert_allclose(logs["loss"], -logs["fivo_k2"], rtol=1e-5)
    else:
        assert logs["iwae_k2"] >= logs["elbo"]
        np.testing.assert_allclose(logs["loss"], -logs["iwae_k2"], rtol=1e-5)
    runs.save(model, str(tmp_path), {"dataset": "jsb"})
    loaded, _ = runs.load(str(tmp_path))
    assert loaded.get_config() == model.get_config()
    batch = next(iter(data))
    np.testing.assert_allclose(loaded.filter(batch, 2, 0.5, seed=1).bound,
                               model.filter(batch, 2, 0.5, seed=1).bound, rtol=1e-5)


def test_sample_is_a_binary_piano_roll_and_repeats_with_a_seed():
    model = tiny()
    rolls = model.sample(2, 5, seed=7)
    assert rolls.shape == (2, 5, 6) and set(np.unique(rolls)) <= {0.0, 1.0}
    np.testing.assert_array_equal(rolls, model.sample(2, 5, seed=7))
    gauss = tiny(likelihood="gaussian").sample(1, 4, seed=0, binary=False)
    assert gauss.shape == (1, 4, 6) and np.all(np.isfinite(gauss))


def test_bad_configuration_and_input():
    with pytest.raises(ValueError, match="objective"):
        vrnn.VRNN(objective="rws")
    with pytest.raises(ValueError, match="likelihood"):
        vrnn.VRNN(likelihood="poisson")
    model = tiny()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"\(batch, steps, 6\)"):
        model.fit(np.zeros((2, 4, 5), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="binary"):
        model.fit(np.full((2, 4, 6), 0.5, "float32"), epochs=1, verbose=0)


def test_evaluate_reports_per_step_bounds_in_order():
    model = tiny(k=4)
    data = sequences.dataset(binary_batch(n=5, steps=6)["frames"].numpy(), np.array([6, 5, 4, 3, 2]), 5)
    result = vrnn.evaluate(model, data, iwae_k=64, max_rows=64)
    assert result["total_steps"] == 20
    assert result["elbo_per_step"] < result["iwae_k64_per_step"] < 0
    np.testing.assert_allclose(result["iwae_k64_per_step"], result["iwae_k64_total"] / 20)
    assert "fivo_k4_total" in result and "elbo_total" in result


def test_cli_train_evaluate_sample_on_an_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "seqs.npz")
    np.savez(path, frames=rng.normal(size=(6, 5, 2)).astype("float32"), lengths=np.array([5, 4, 3, 5, 4, 3]))
    out = str(tmp_path / "run")
    common = ["--rnn-units", "4", "--latent", "2", "--features", "4", "--batch-size", "3"]
    assert cli.main(["vrnn-train", "--dataset", path, "--likelihood", "gaussian", "--objective", "iwae",
                     "--k", "2", "--epochs", "1", "--iwae-k", "3", "--out", out, "--verbose", "0",
                     *common]) == 0
    metrics = runs.read_metrics(out)
    assert metrics["test_total_steps"] == 24 and np.isfinite(metrics["test_iwae_k3_per_step"])
    assert cli.main(["vrnn-evaluate", out, "--iwae-k", "5"]) == 0
    assert "test_iwae_k5_per_step" in runs.read_metrics(out)
    png = str(tmp_path / "roll.png")
    assert cli.main(["vrnn-sample", out, "--steps", "4", "--png", png]) == 0
    assert os.path.getsize(png) > 0
    assert cli.main(["vrnn-train", "--dataset", "nope", "--out", str(tmp_path / "x")]) == 2
