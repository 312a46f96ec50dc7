"""Burda et al.'s protocol: deleting inactive units (zoo.iwae.protocol)."""
import numpy as np
import pytest

from tests.models import tiny_iwae
from zoo.iwae import protocol


@pytest.mark.parametrize("layers", [1, 2])
def test_removing_units_makes_them_prior_and_invisible(layers):
    model = tiny_iwae(layers=layers)
    x = (np.random.default_rng(1).random((5, 6)) < 0.5).astype("float32")
    masks = {name: np.ones(q.units, bool) for name, q in zip(model.latent_names, model.posteriors)}
    masks["z1"][[0, 2]] = False
    before = model.log_weights(x, 3, seed=7).log_w.numpy()
    protocol.remove_inactive_units(model, masks)
    after = model.log_weights(x, 3, seed=7)
    assert not np.allclose(before, after.log_w.numpy())
    loc, scale = model.encode(x)
    np.testing.assert_array_equal(loc.numpy()[:, [0, 2]], 0.0)
    np.testing.assert_array_equal(scale.numpy()[:, [0, 2]], 1.0)
    z = np.random.default_rng(2).normal(size=(5, 4 if layers == 2 else 3)).astype("float32")
    moved = z.copy()
    moved[:, [0, 2]] += 3.0  # the removed units' values reach nothing downstream
    np.testing.assert_allclose(model.mean_image(z).numpy(), model.mean_image(moved).numpy(), atol=1e-6)
    for head in model.posteriors[1:]:
        for a, b in zip(head(z), head(moved)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    if layers == 2:  # p(z1 | z2) of the removed units is N(0, 1) too, so log p - log q cancels
        loc, scale = model.priors[0](np.zeros((5, 3), "float32"))
        np.testing.assert_array_equal(loc.numpy()[:, [0, 2]], 0.0)
        np.testing.assert_array_equal(scale.numpy()[:, [0, 2]], 1.0)
