"""Streaming k-sample log-likelihood against exact values."""
import numpy as np
import pytest

from tests import linear_gaussian
from tfgen import evaluation, objectives


def test_exact_posterior_gives_exact_log_likelihood_whatever_the_chunking():
    model, x = linear_gaussian.make(n=40)
    model.set_posterior()
    exact = model.exact_log_likelihood(x.numpy())
    for max_rows in (7, 1000):  # chunks of 1 sample (batch 40 > 7 rows) and of 25
        estimate = evaluation.log_likelihood(model, x.numpy(), k=53, max_rows=max_rows, verbose=0)
        np.testing.assert_allclose(estimate, exact, atol=3e-4)


def test_many_chunks_converge_to_log_p_and_beat_small_k():
    model, x = linear_gaussian.make(n=200)
    model.set_posterior(scale_factor=1.5, shift=0.3)
    exact = model.exact_log_likelihood(x.numpy()).mean()
    estimate = evaluation.log_likelihood(model, x.numpy(), k=3000, max_rows=100 * 64 + 17, verbose=0)
    assert estimate.shape == (200,)
    iwae_5 = float(np.mean(objectives.iwae(model.log_weights(x, 5, seed=0).log_w)))
    assert iwae_5 < estimate.mean() <= exact + 0.01
    assert exact - estimate.mean() < 0.02


def test_bad_k_is_refused_before_any_work():
    model, x = linear_gaussian.make(n=4)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        evaluation.log_likelihood(model, x.numpy(), k=0)


def test_estimator_is_traced_once_and_an_int_seed_repeats_its_samples():
    model, x = linear_gaussian.make(n=30)
    model.set_posterior(scale_factor=1.5, shift=0.3)
    estimate = evaluation.LogLikelihood(model, k=40, max_rows=500, seed=3)
    first, second = estimate(x.numpy(), verbose=0), estimate(x.numpy(), verbose=0)
    np.testing.assert_array_equal(first, second)
    assert estimate.batch_estimate.experimental_get_tracing_count() == 1
    np.testing.assert_array_equal(first, evaluation.log_likelihood(model, x.numpy(), k=40, max_rows=500,
                                                                    verbose=0, seed=3))
    other = evaluation.log_likelihood(model, x.numpy(), k=40, max_rows=500, verbose=0, seed=4)
    assert np.abs(first - other).max() > 1e-4  # a different seed draws different samples
