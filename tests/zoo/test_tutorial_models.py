"""The tutorial's richer models: flow posteriors (zoo.iwae), the Ladder VAE (zoo.ladder) and the
auxiliary VAE (zoo.auxiliary), checked against exact answers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import blocks, callbacks, layers, objectives
from zoo.auxiliary.model import AuxiliaryVAE
from zoo.iwae.model import IWAE
from zoo.ladder.model import LadderVAE

X = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], "float32")  # 2x2 binary images


def _exact_log_px(model, x):
    """``log int p(x | z) N(z; 0, 1) dz`` for a model with one latent unit, by quadrature."""
    z = np.linspace(-10.0, 10.0, 40001, dtype="float32")
    log_joint = model.log_likelihood(x, tf.constant(z[:, None, None])).numpy() - 0.5 * z[:, None] ** 2
    log_joint -= 0.5 * np.log(2 * np.pi)
    step = z[1] - z[0]
    return np.logaddexp.reduce(log_joint, axis=0) + np.log(step)


TINY = {
    "iwae_planar": lambda: IWAE(image_shape=(2, 2, 1), latent=(1,), hidden=((6,),), posterior="planar",
                                flow_steps=3, seed=0),
    "iwae_iaf": lambda: IWAE(image_shape=(2, 2, 1), latent=(1,), hidden=((6,),), posterior="iaf",
                             flow_steps=2, flow_hidden=(5,), seed=0),
    "auxiliary": lambda: AuxiliaryVAE(image_shape=(2, 2, 1), latent=1, auxiliary=2, hidden=(6,), seed=0),
    "ladder_l1": lambda: LadderVAE(image_shape=(2, 2, 1), layers=1, latent=(1,), hidden=(6,), seed=0),
}


@pytest.mark.parametrize("name", list(TINY))
def test_the_k_sample_bound_converges_to_the_exact_log_likelihood(name):
    # E[IWAE_k] <= log p(x) for every k, tending to it as k grows: true only if log q (with the
    # flow's log-determinant, or the auxiliary p(a | x, z) / q(a | x)) is a normalised density.
    keras.utils.set_random_seed(1)
    model = TINY[name]()
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    model.fit(np.tile(X, (32, 1)), batch_size=32, epochs=60, verbose=0)  # a fitted q: a fast-converging k
    exact = _exact_log_px(model, X)
    pairs = tf.reshape(model.log_weights(X, 4000, seed=3).log_w, (2000, 2, 3))
    iwae_2 = tf.reduce_logsumexp(pairs, axis=1) - np.log(2.0)  # 2000 draws of IWAE_2
    large = objectives.iwae(model.log_weights(X, 50000, seed=4).log_w).numpy()
    assert np.all(np.mean(iwae_2.numpy(), axis=0) < exact)
    np.testing.assert_allclose(large, exact, atol=0.02)


def test_the_ladder_merge_is_the_normalised_product_of_the_two_gaussians():
    rng = np.random.default_rng(0)
    loc_q, loc_p = rng.normal(size=(2, 5)).astype("float32")
    scale_q, scale_p = np.exp(rng.normal(size=(2, 5))).astype("float32")
    loc, scale = (t.numpy() for t in blocks.precision_weighted(loc_q, scale_q, loc_p, scale_p))
    # N(z; mu_q, s_q) N(z; mu_p, s_p) = N(z; mu, s) N(mu_q; mu_p, s_q^2 + s_p^2): the ratio is
    # constant in z and equal to that closed form.
    z = np.linspace(-3.0, 3.0, 7, dtype="float64")[:, None]

    def log_normal(v, m, s):
        return -0.5 * ((v - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)

    ratio = log_normal(z, loc_q, scale_q) + log_normal(z, loc_p, scale_p) - log_normal(z, loc, scale)
    expected = log_normal(loc_q, loc_p, np.sqrt(scale_q.astype("float64") ** 2 + scale_p ** 2))
    np.testing.assert_allclose(ratio, np.broadcast_to(expected, ratio.shape), rtol=1e-5, atol=1e-5)


def test_the_ladder_posterior_of_a_lower_layer_is_the_merge_of_its_bottom_up_estimate_and_prior():
    keras.utils.set_random_seed(0)
    model = LadderVAE(image_shape=(2, 2, 1), layers=2, latent=(3, 2), hidden=(6, 5), seed=0)
    model.build()
    encoded = model.encode(X)
    seed = keras.random.SeedGenerator(7)
    lw = model.log_weights_from(X, encoded, 4, seed=seed)
    # Replay the same draws: z2 from q(z2 | x), then z1 from the merged Gaussian.
    replay = keras.random.SeedGenerator(7)
    z2 = layers.DiagonalGaussian.sample(*encoded[1], seed=replay, k=4)
    loc_p, scale_p = model.prior(0, z2)
    loc, scale = blocks.precision_weighted(*encoded[0], loc_p, scale_p)
    z1 = layers.DiagonalGaussian.sample(loc, scale, seed=replay)
    np.testing.assert_allclose(lw.log_qz["z2"].numpy(), layers.normal_log_prob(z2, *encoded[1]).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(lw.log_qz["z1"].numpy(), layers.normal_log_prob(z1, loc, scale).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lw.log_pz["z1"].numpy(), layers.normal_log_prob(z1, loc_p, scale_p).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_kl_warm_up_weights_the_ladder_kl_terms():
    keras.utils.set_random_seed(0)
    model = LadderVAE(image_shape=(2, 2, 1), layers=2, latent=(3, 2), hidden=(6, 5), seed=0)
    model.build()
    callbacks.KLWarmup(4).set_model(model)  # accepted: the Ladder VAE trains a bound of its log weights
    lw = model.log_weights(X, 1, seed=1)
    for beta in (0.0, 0.25, 1.0):
        model.kl_weight.assign(beta)
        np.testing.assert_allclose(model.objective(lw).numpy(),
                                   (lw.log_px_z + beta * (lw.log_w - lw.log_px_z)).numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(model.objective(lw).numpy(), objectives.elbo(lw.log_w).numpy(), rtol=1e-6)


@pytest.mark.parametrize("argv", [
    ["train", "ladder", "--layers", "2", "--latent", "4,2", "--hidden", "16,8", "--warmup-epochs", "1"],
    ["train", "auxiliary", "--latent", "4", "--auxiliary", "3", "--hidden", "16"],
    ["train", "iwae", "--config", "kingma2016_iaf", "--latent", "4", "--hidden", "16", "--flow-hidden", "8",
     "--objective", "vae", "--k", "1"],
], ids=["ladder", "auxiliary", "iaf"])
def test_trains_from_the_command_line_and_reloads_with_the_same_figure(argv, tmp_path):
    import json

    from zoo import cli, presets_cli

    out = tmp_path / "run"
    assert cli.main(argv + ["--dataset", "digits", "--epochs", "2", "--batch-size", "50", "--eval-k", "20",
                            "--out", str(out), "--verbose", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs"] == 2
    assert -60 < metrics["test_log_likelihood_k20"] < 0
    model, settings, _ = presets_cli.load_model(str(out))
    assert cli.main(["evaluate", str(out), "--k", "20", "--seed", "0", "--verbose", "0"]) == 0
    again = json.loads((out / "metrics.json").read_text())["test_log_likelihood_k20"]
    assert again == pytest.approx(metrics["test_log_likelihood_k20"], abs=1e-3)  # same weights, same seed
    history = (out / "history.csv").read_text()
    assert ("kl_weight" in history) == ("--warmup-epochs" in argv)  # logged while warming up
