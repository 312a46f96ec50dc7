"""What a trained image model is for beyond density: in-painting, denoising, latent maps.

Every function takes an image model with ``encode(x) -> (loc, scale)`` of ``q(z | x)`` (its
first latent layer) and ``decode(z)`` / ``mean_image(z)`` of ``p(x | z)``
(:class:`tfgen.image_model.ImageModel`: the zoo's VAE / IWAE, InfoVAE / LagVAE). Images are
flat ``[n, h*w*c]`` or ``[n, h, w, c]``, with the values the model was trained on.

* :func:`inpaint` fills missing pixels by the Markov chain of Rezende, Mohamed & Wierstra,
  "Stochastic Backpropagation and Approximate Inference in Deep Generative Models" (ICML 2014,
  sec. 6.3): ``z ~ q(z | x_t)``, ``x_{t+1}[missing] ~ p(x | z)[missing]``, the observed pixels
  clamped. Observed pixels are never changed.
* :func:`denoise` maps a corrupted image to ``E[x | z]`` at the mean of ``q(z | x)``, a few
  times over: the model's manifold pulls the image back.
* :func:`latent_map` gives 2-D coordinates of ``E_q[z | x]``: the latents themselves for a
  2-latent model, their first two principal components (scikit-learn's PCA) otherwise;
  :func:`latent_grid` decodes a grid over a 2-latent model's prior (Kingma & Welling,
  "Auto-Encoding Variational Bayes", ICLR 2014, fig. 4).
"""

import numpy as np
import tensorflow as tf
from scipy.stats import norm

from tfgen.config import MASKS


def check_image_model(model):
    """Raise ``ValueError`` unless ``model`` has ``encode``, ``decode`` and ``mean_image``."""
    missing = [name for name in ("encode", "decode", "mean_image") if not hasattr(model, name)]
    if missing:
        raise ValueError(
            f"{type(model).__name__} cannot be used here: it has no {', '.join(missing)} "
            "(image models with an encoder q(z|x) and a decoder p(x|z), e.g. the VAE / IWAE)."
        )


def mask(kind, image_shape, num, fraction=0.5, seed=0):
    """Observation masks ``[num, h*w*c]``: 1 where a pixel is observed, 0 where it is missing.

    ``kind``: ``"top"`` / ``"bottom"`` / ``"left"`` / ``"right"`` (that ``fraction`` of rows or
    columns missing), ``"centre"`` (a centred square of that fraction of the area missing) or
    ``"random"`` (each pixel missing with probability ``fraction``, seeded).
    """
    if kind not in MASKS:
        raise ValueError(f"Unknown mask {kind!r}; choose one of {list(MASKS)}.")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"The missing fraction must be in (0, 1), got {fraction}.")
    h, w, c = image_shape
    observed = np.ones((num, h, w, c), "float32")
    rows, cols = int(round(fraction * h)), int(round(fraction * w))
    if kind == "top":
        observed[:, :rows] = 0
    elif kind == "bottom":
        observed[:, h - rows :] = 0
    elif kind == "left":
        observed[:, :, :cols] = 0
    elif kind == "right":
        observed[:, :, w - cols :] = 0
    elif kind == "centre":
        side_h, side_w = int(round(np.sqrt(fraction) * h)), int(round(np.sqrt(fraction) * w))
        top, left = (h - side_h) // 2, (w - side_w) // 2
        observed[:, top : top + side_h, left : left + side_w] = 0
    else:
        observed = (np.random.default_rng(seed).random(observed.shape) >= fraction).astype("float32")
    return observed.reshape(num, -1)


def inpaint(model, x, observed, steps=50, seed=0, return_chain=False):
    """Fill the pixels of ``x`` where ``observed`` is 0 with the model's conditional.

    Args:
        model: an image model (see the module docstring).
        x: images ``[n, ...]``; the values at missing pixels are ignored.
        observed: ``[n, h*w*c]`` (or ``x``'s shape), 1 observed, 0 missing.
        steps: steps of the chain; each draws ``z ~ q(z | x_t)`` and the missing pixels from
            ``p(x | z)``.
        seed: seed of the chain's draws.
        return_chain: also return the mean images of every step, ``[steps, n, h*w*c]``.

    Returns:
        ``[n, h*w*c]``: the observed pixels of ``x`` exactly, the missing ones the mean
        ``E[x | z]`` of the last step (and the chain when asked).
    """
    check_image_model(model)
    x = np.asarray(x, "float32").reshape(len(x), -1)
    observed = np.asarray(observed, "float32").reshape(x.shape)
    if not np.isin(observed, (0.0, 1.0)).all():
        raise ValueError("observed must hold 0 (missing) and 1 (observed) only.")
    keep = observed.astype(bool)
    x = np.where(keep, x, 0.0).astype("float32")
    model.validate_inputs(x)
    generator = tf.random.Generator.from_seed(seed)
    start = model.mean_image(tf.zeros((len(x), model.encode(x[:1])[0].shape[-1]))).numpy()
    current = np.where(keep, x, start)  # missing pixels start at the decoder's mean at z = 0
    chain = []
    for _ in range(steps):
        loc, scale = model.encode(current)
        z = loc + scale * generator.normal(tf.shape(loc))
        filled = (
            model.decode(z).sample(seed=tf.cast(generator.make_seeds(1)[:, 0], "int32")).numpy()
        )  # stateless
        mean = model.mean_image(z).numpy()
        chain.append(np.where(keep, x, mean))
        current = np.where(keep, x, filled)
    result = chain[-1] if chain else current
    return (result, np.stack(chain)) if return_chain else result


def denoise(model, x, steps=1):
    """``E[x | z]`` at ``z`` = the mean of ``q(z | x)``, applied ``steps`` times: ``[n, h*w*c]``."""
    check_image_model(model)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    current = np.asarray(x, "float32").reshape(len(x), -1)
    for _ in range(steps):
        current = model.mean_image(model.encode(current)[0]).numpy()
    return current


def corrupt(x, flip=0.1, seed=0):
    """Binary images with each pixel flipped with probability ``flip`` (salt-and-pepper noise);
    images in [0, 1] get that fraction of pixels set to 0 or 1 at random."""
    x = np.asarray(x, "float32")
    rng = np.random.default_rng(seed)
    hit = rng.random(x.shape) < flip
    noise = (rng.random(x.shape) < 0.5).astype("float32")
    binary = np.isin(x, (0.0, 1.0)).all()
    return np.where(hit, 1.0 - x if binary else noise, x).astype("float32")


def latent_map(model, x, batch_size=500):
    """``(coordinates [n, 2], explained)``: the posterior means ``E_q[z | x]``, or their first two
    principal components when ``z`` has more than 2 units; ``explained`` is the fraction of the
    means' variance the two coordinates keep (1.0 for a 2-latent model)."""
    check_image_model(model)
    x = np.asarray(x, "float32").reshape(len(x), -1)
    means = np.concatenate(
        [model.encode(x[i : i + batch_size])[0].numpy() for i in range(0, len(x), batch_size)]
    )
    if means.shape[1] == 1:
        raise ValueError("A 1-latent model has no 2-D map; its latent is a line.")
    if means.shape[1] == 2:
        return means, 1.0
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(means)
    return pca.transform(means), float(pca.explained_variance_ratio_.sum())


def latent_grid(model, n=15, limit=0.95):
    """Mean images ``[n * n, h*w*c]`` of a 2-latent model over an ``n x n`` grid of ``z``: the
    prior's quantiles ``Phi^-1`` of evenly spaced probabilities in ``[1 - limit, limit]``, row by row
    (the second latent down the rows, the first along them)."""
    check_image_model(model)
    width = model.encode(np.zeros((1, model.config.dims), "float32"))[0].shape[-1]
    if width != 2:
        raise ValueError(
            f"latent_grid needs a model with 2 latent units, this one has {width}; "
            "use latent_map for a projection."
        )
    values = norm.ppf(np.linspace(1.0 - limit, limit, n))
    first, second = np.meshgrid(values, values[::-1])
    z = np.stack([first.ravel(), second.ravel()], axis=1).astype("float32")
    return model.mean_image(tf.constant(z)).numpy()
