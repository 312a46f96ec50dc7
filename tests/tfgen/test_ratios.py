"""A classifier's logit is the log density ratio: checked against two Gaussians' exact ratio."""
import numpy as np
import pytest
from scipy.stats import norm

from tfgen import ratios

P, Q = norm(1.0, 1.0), norm(-0.5, 1.5)
KL_PQ = np.log(1.5 / 1.0) + (1.0**2 + 1.5**2) / (2 * 1.5**2) - 0.5  # KL(N(1, 1) || N(-0.5, 1.5^2))


def samples(n_p=8000, n_q=4000, seed=0):
    rng = np.random.default_rng(seed)
    return (P.rvs(size=(n_p, 1), random_state=rng), Q.rvs(size=(n_q, 1), random_state=rng))


def test_log_ratio_of_two_gaussians():
    p, q = samples(20000, 10000)  # unequal sample sizes: the prior log-odds must be taken out
    estimator = ratios.fit_ratio(p, q, hidden=(32, 32), epochs=8, learning_rate=3e-3)
    grid = np.linspace(-1.5, 2.5, 41)[:, None]
    exact = P.logpdf(grid[:, 0]) - Q.logpdf(grid[:, 0])
    np.testing.assert_allclose(estimator.log_ratio(grid), exact, atol=0.15)


def test_two_sample_test_estimates_the_kl_and_cannot_tell_a_distribution_from_itself():
    p, q = samples()
    different = ratios.two_sample_test(p, q, hidden=(32, 32), epochs=15, learning_rate=3e-3)
    assert different["kl"] == pytest.approx(KL_PQ, abs=0.06)
    # The Bayes classifier's accuracy on held-out halves of 4000 and 2000 samples: 0.75 (computed below).
    bayes = np.mean(np.concatenate([P.logpdf(p[4000:]) - Q.logpdf(p[4000:]) > -np.log(2),
                                    P.logpdf(q[2000:]) - Q.logpdf(q[2000:]) <= -np.log(2)]))
    assert different["accuracy"] == pytest.approx(bayes, abs=0.03)
    same = ratios.two_sample_test(p, samples(seed=1)[0], hidden=(32, 32), epochs=8)
    assert abs(same["accuracy"] - 0.5) < 0.03 and abs(same["kl"]) < 0.05


def test_samples_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        ratios.fit_ratio(np.zeros((5, 2)), np.zeros((5, 3)))
