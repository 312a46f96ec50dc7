"""MMD estimators and kernels, and the aggregate-posterior mutual-information estimate."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
from scipy.stats import norm

from tfgen import config, divergences

KERNELS = sorted(divergences.KERNELS)


def reference_kernel(name, a, b):
    d = a.shape[-1]
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return {"authors": np.exp(-np.mean((a[:, None, :] - b[None, :, :]) ** 2, -1) / d),
            "rbf": np.exp(-sq / (2.0 * d)),
            "imq": 2.0 * d / (2.0 * d + sq)}[name]


def reference_mmd(name, a, b, estimator):
    kaa, kbb, kab = (reference_kernel(name, u, v) for u, v in ((a, a), (b, b), (a, b)))
    if estimator == "biased":
        return kaa.mean() + kbb.mean() - 2 * kab.mean()
    n, m = len(a), len(b)
    off = lambda k, s: (k.sum() - np.trace(k)) / (s * (s - 1))  # noqa: E731
    return off(kaa, n) + off(kbb, m) - 2 * kab.mean()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("estimator", divergences.MMD_ESTIMATORS)
def test_mmd_matches_the_formula(kernel, estimator):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(0.5, 1.2, size=(30, 3))
    got = float(divergences.mmd(a, b, kernel, estimator))
    assert got == pytest.approx(reference_mmd(kernel, a, b, estimator), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
def test_mmd_is_zero_for_identical_samples_and_grows_with_a_mean_shift(kernel):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 4)).astype("float32")
    assert float(divergences.mmd(a, a, kernel, "biased")) == pytest.approx(0.0, abs=1e-6)
    b = rng.normal(size=(200, 4)).astype("float32")
    values = [float(divergences.mmd(a, b + shift, kernel, "unbiased")) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert abs(values[0]) < 0.1 * values[1]
    assert values == sorted(values)


def test_unbiased_estimator_is_centred_and_biased_one_is_positive_with_the_known_bias():
    rng = np.random.default_rng(2)
    n, d, reps = 50, 8, 300
    a = tf.constant(rng.normal(size=(reps, n, d)), tf.float32)
    b = tf.constant(rng.normal(size=(reps, n, d)), tf.float32)
    unbiased, biased = (
        tf.vectorized_map(lambda ab, e=estimator: divergences.mmd(ab[0], ab[1], "authors", e), (a, b)).numpy()
        for estimator in ("unbiased", "biased"))
    # Same distribution: E[unbiased] = 0 (so some estimates are negative), biased >= 0 always.
    assert abs(unbiased.mean()) < 3 * unbiased.std() / np.sqrt(reps)
    assert (unbiased < 0).any()
    assert (biased >= 0).all()
    # E[biased] - MMD^2 = 2 (1 - E k(a, a')) / n for P = Q; ||a - a'||^2 ~ 2 chi^2_d, so
    # E k = E exp(-||a - a'||^2 / d^2) = (1 + 4 / d^2)^(-d / 2).
    expected_bias = 2 * (1 - (1 + 4 / d**2) ** (-d / 2)) / n
    assert biased.mean() == pytest.approx(expected_bias, rel=0.05)


def test_kernel_and_estimator_names_are_the_configs_and_apart_from_gradient_estimators():
    assert tuple(divergences.KERNELS) == config.MMD_KERNELS
    assert not set(config.MMD_ESTIMATORS) & set(config.ESTIMATORS)
    assert divergences.check_mmd_estimator("unbiased") == "unbiased"


def test_bandwidth_and_bad_arguments():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20, 2)), rng.normal(1.0, size=(20, 2))
    wide = float(divergences.mmd(a, b, "rbf", bandwidth=100.0))
    assert 0 <= wide < float(divergences.mmd(a, b, "rbf", bandwidth=1.0))
    with pytest.raises(ValueError, match="Unknown MMD kernel"):
        divergences.mmd(a, b, kernel="laplace")
    with pytest.raises(ValueError, match="Unknown MMD estimator"):
        divergences.mmd(a, b, estimator="linear")
    with pytest.raises(ValueError, match="differ in dimension"):
        divergences.mmd(a, b[:, :1])


def test_mutual_information_matches_brute_force_and_its_bounds():
    rng = np.random.default_rng(4)
    n, d = 300, 3
    loc = rng.normal(size=(n, d)) * 2
    scale = rng.uniform(1e-3, 1.0, size=(n, d))
    z = loc + scale * rng.normal(size=(n, d))
    log_q = norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(-1)
    expected = np.mean(np.diag(log_q) - (logsumexp(log_q, axis=1) - np.log(n)))
    as_tensors = [tf.constant(t, tf.float32) for t in (z, loc, scale)]
    assert float(divergences.mutual_information(*as_tensors, chunk=128)) == pytest.approx(expected, rel=1e-4)
    assert 0 < expected <= np.log(n)
    # Every point with the same posterior: q(z | x) = q(z), no information.
    same = [tf.constant(np.repeat(t[:1], n, 0), tf.float32) for t in (loc, scale)]
    assert float(divergences.mutual_information(as_tensors[0], *same)) == pytest.approx(0.0, abs=1e-5)
