"""Burda et al.'s experiment protocol around :class:`zoo.iwae.IWAE`: active units, unit removal, warm starts.

After training, the paper's code (github.com/yburda/iwae, ``experiments.py``) measures the
test log-likelihood with k = 5000, counts the active units of each stochastic layer
(variance over 500 training examples of the posterior mean, threshold 0.01), deletes the
inactive ones and measures the log-likelihood again. ``--exp`` warm starts continue a
trained 1-layer model of one kind with the other kind's objective.
"""
import os

import keras
import numpy as np

from tfgen import callbacks, runs
from zoo import iwae

# Seed README wording: "iwae_to_vae" trains an IWAE k=50 initialised at a 1-layer VAE k=1,
# "vae_to_iwae" a VAE k=1 initialised at a 1-layer IWAE k=50 (the code's experiments.py
# names the directions the other way round). Values: (objective, k, kind trained before).
EXPERIMENTS = {"iwae_to_vae": ("iwae", 50, "vae"), "vae_to_iwae": ("vae", 1, "iwae")}
# The published code continues a warm start for 3^7 epochs at learning rate 1e-4.
WARM_START_STAGE = (3 ** 7, 1e-4)
ACTIVITY_EXAMPLES = 500  # the code's get_units_variances: the first 500 training examples


def posterior_means(model, x, samples=100, seed=0):
    """``{layer: E_q[z_l | x]}``, each ``[batch, units]``.

    ``E_q[z_1 | x]`` is the encoder's mean; for deeper layers the mean of
    ``q(z_l | z_{l-1})`` is averaged over ``samples`` draws of ``z_{l-1} ~ q`` (Monte Carlo;
    the paper's code uses a single draw).
    """
    generator = keras.random.SeedGenerator(seed)
    x = keras.ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    loc, scale = model.encoder[0](x)
    means = {model.latent_names[0]: loc.numpy()}
    z = model.encoder[0].sample(loc, scale, seed=generator, k=samples)
    for name, q in zip(model.latent_names[1:], model.encoder[1:]):
        loc, scale = q(z)
        means[name] = keras.ops.mean(loc, axis=0).numpy()
        z = q.sample(loc, scale, seed=generator)
    return means


def _inputs_of(head):
    """The Dense layers that read a head's input directly."""
    return [head.trunk.dense[0]] if head.trunk.dense else list(head.heads.values())


def remove_inactive_units(model, masks):
    """Delete, in place, the units whose ``masks[layer]`` entry is False (see ``callbacks.remove_units``)."""
    names = model.latent_names
    for i, name in enumerate(names):
        readers = model.encoder[i + 1:i + 2] + ([model.likelihood] if i == 0 else model.priors[i - 1:i])
        consumers = [dense for head in readers for dense in _inputs_of(head)]
        prior = model.priors[i] if i < len(model.priors) else None
        callbacks.remove_units(model.encoder[i], ~np.asarray(masks[name]), consumers, prior)


def warm_start(run_dir, objective, k, estimator="total", seed=None, optimizer=None):
    """A 1-layer model training ``objective`` with ``k`` samples, initialised at the run in ``run_dir``.

    Weights come from the run; the optimizer's moments and step count too when the run left
    a ``checkpoints/latest`` (the published code continues with the trained model's Adam).
    """
    source, _ = runs.load(run_dir)
    if not isinstance(source, iwae.IWAE) or source.config.layers != 1:
        raise ValueError(f"{run_dir} must hold a 1-layer VAE/IWAE run to warm-start from.")
    config = {**vars(source.config), "objective": objective, "k": k, "estimator": estimator, "seed": seed}
    model = iwae.IWAE(**config)
    model.build()
    model.set_weights(source.get_weights())
    model.compile(optimizer=optimizer or iwae.paper_optimizer())
    checkpoints = os.path.join(run_dir, "checkpoints")
    if os.path.exists(os.path.join(checkpoints, "latest.keras")):
        trained, _ = callbacks.load_checkpoint(checkpoints, "latest")
        model.optimizer.build(model.trainable_variables)
        for mine, theirs in zip(model.optimizer.variables, trained.optimizer.variables):
            if not mine.path.endswith("learning_rate"):
                mine.assign(theirs)
    return model
