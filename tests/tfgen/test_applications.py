"""In-painting keeps every observed pixel and fills the missing ones from the model; denoising and
latent maps have the documented shapes; masks cover what they say."""

import numpy as np
import pytest

from tfgen import applications
from zoo.iwae.model import IWAE


@pytest.fixture(scope="module")
def model():
    model = IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), seed=0)
    model.build()
    return model


def binary(n, seed=0):
    return (np.random.default_rng(seed).random((n, 16)) < 0.4).astype("float32")


@pytest.mark.parametrize("kind", ["bottom", "random"])
def test_inpainting_never_changes_observed_pixels(model, kind):
    x = binary(6)
    observed = applications.mask(kind, (4, 4, 1), 6, 0.5, seed=1)
    filled, chain = applications.inpaint(model, x, observed, steps=5, seed=2, return_chain=True)
    assert chain.shape == (5, 6, 16)
    for image in [filled, *chain]:
        np.testing.assert_array_equal(image[observed == 1], x[observed == 1])
    missing = filled[observed == 0]
    assert np.all((missing > 0) & (missing < 1))  # Bernoulli means, not the hidden pixels
    # The same seed gives the same chain; the values at missing pixels do not matter.
    again = applications.inpaint(model, np.where(observed == 1, x, 1.0), observed, steps=5, seed=2)
    np.testing.assert_array_equal(again, filled)


def test_masks_hide_what_they_name():
    bottom = applications.mask("bottom", (4, 4, 1), 2, 0.5).reshape(2, 4, 4)
    assert bottom[:, :2].all() and not bottom[:, 2:].any()
    left = applications.mask("left", (4, 4, 1), 1, 0.25).reshape(4, 4)
    assert not left[:, 0].any() and left[:, 1:].all()
    centre = applications.mask("centre", (4, 4, 1), 1, 0.25).reshape(4, 4)
    assert centre.sum() == 12 and not centre[1:3, 1:3].any()
    random = applications.mask("random", (28, 28, 1), 50, 0.3, seed=0)
    assert abs(1 - random.mean() - 0.3) < 0.01
    with pytest.raises(ValueError, match="Unknown mask 'diagonal'"):
        applications.mask("diagonal", (4, 4, 1), 1)


def test_denoise_is_the_decoders_mean_at_the_encoders_mean(model):
    x = applications.corrupt(binary(5), flip=0.2, seed=0)
    expected = model.mean_image(model.encode(x)[0]).numpy()
    np.testing.assert_allclose(applications.denoise(model, x), expected, rtol=1e-6)
    flipped = applications.corrupt(np.zeros((200, 16), "float32"), flip=0.1, seed=1)
    assert abs(flipped.mean() - 0.1) < 0.01


def test_latent_map_projects_beyond_two_latents(model):
    coords, explained = applications.latent_map(model, binary(40))
    assert coords.shape == (40, 2) and 0 < explained <= 1
    means = model.encode(binary(40))[0].numpy()
    centred = means - means.mean(axis=0)
    total = np.sum(centred**2)
    np.testing.assert_allclose(np.sum(coords**2) / total, explained, rtol=1e-4)  # PCA keeps that variance
    with pytest.raises(ValueError, match="2 latent units, this one has 3"):
        applications.latent_grid(model)


def test_latent_grid_of_a_two_latent_model():
    two = IWAE(image_shape=(4, 4, 1), latent=(2,), hidden=((8,),), seed=0)
    two.build()
    grid = applications.latent_grid(two, n=3)
    assert grid.shape == (9, 16)
    coords, explained = applications.latent_map(two, binary(10))
    np.testing.assert_allclose(coords, two.encode(binary(10))[0].numpy(), rtol=1e-6)
    assert explained == 1.0
