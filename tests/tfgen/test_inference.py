"""Memoryless inference against an exactly tractable model: the linear-Gaussian model's posterior
is a diagonal Gaussian, so the per-datapoint optimum reaches log p(x) and the amortisation gap of
an encoder off the posterior is exactly KL(q || p(z | x))."""

import numpy as np
import pytest

from tests import linear_gaussian
from tfgen import inference


def test_memoryless_optimum_is_the_posterior_and_the_gap_is_the_encoders_kl():
    model, x = linear_gaussian.make(seed=3, n=64)
    model.set_posterior(scale_factor=1.5, shift=0.3)  # the encoder: mean off by 0.3, scale 1.5x too wide
    x = x.numpy()
    result = inference.amortisation_gap(model, x, steps=400, learning_rate=2e-2, samples=2000, verbose=0)
    # KL(N(m + 0.3, (1.5 s)^2) || N(m, s^2)) per latent unit, for each posterior scale s.
    s = np.sqrt(np.diag(model.posterior_covariance()))
    kl = np.sum(np.log(1 / 1.5) + (1.5**2 * s**2 + 0.3**2) / (2 * s**2) - 0.5)
    exact = model.exact_log_likelihood(x)
    assert np.mean(result.elbo_amortised) == pytest.approx(np.mean(exact) - kl, abs=0.03)  # 2000 draws each
    np.testing.assert_allclose(result.elbo_memoryless, exact, atol=0.01)  # q = p(z | x): zero variance
    assert result.gap == pytest.approx(kl, abs=0.02) and result.gap > 3 * result.gap_stderr


def test_fitted_posteriors_match_the_exact_ones():
    model, x = linear_gaussian.make(seed=4, n=32)
    model.set_posterior(scale_factor=0.5, shift=-0.5)
    loc, scale = inference.fit_posteriors(model, x, steps=600, learning_rate=2e-2, samples=4, verbose=0)
    np.testing.assert_allclose(loc, model.posterior_mean(x.numpy()), atol=0.05)
    np.testing.assert_allclose(
        scale, np.broadcast_to(np.sqrt(np.diag(model.posterior_covariance())), scale.shape), rtol=0.1
    )


def test_an_encoder_at_the_posterior_has_no_gap_up_to_monte_carlo_error():
    model, x = linear_gaussian.make(seed=5, n=64)
    model.set_posterior()
    result = inference.amortisation_gap(
        model, x.numpy(), steps=200, learning_rate=1e-2, samples=500, verbose=0
    )
    assert abs(result.gap) < 3 * result.gap_stderr + 0.01


def test_models_with_more_than_one_latent_layer_are_refused():
    from zoo.iwae.model import IWAE

    model = IWAE(image_shape=(4, 4, 1), layers=2, latent=(3, 2), hidden=((8,), (6,)))
    with pytest.raises(ValueError, match="one Gaussian latent layer.*2 latent layers"):
        inference.fit_posteriors(model, np.zeros((2, 16), "float32"))
