"""Burda et al.'s experiment protocol around :class:`zoo.iwae.IWAE`: active units, unit removal, warm starts.

After training, the paper's code (github.com/yburda/iwae, ``experiments.py``) measures the
test log-likelihood with k = 5000, counts the active units of each stochastic layer
(variance over 500 training examples of the posterior mean, threshold 0.01), deletes the
inactive ones and measures the log-likelihood again. Warm starts (``--exp``) continue a
trained 1-layer model of one kind with the other kind's objective.
"""
import keras
import numpy as np

from tfgen import callbacks, layers, runs
from zoo.iwae.model import IWAE, paper_optimizer

# "iwae_to_vae" trains an IWAE k=50 initialised at a 1-layer VAE k=1, "vae_to_iwae" a VAE k=1
# initialised at a 1-layer IWAE k=50 (the published experiments.py names the directions the
# other way round). Values: (objective, k).
EXPERIMENTS = {"iwae_to_vae": ("iwae", 50), "vae_to_iwae": ("vae", 1)}
# The published code continues a warm start for 3^7 epochs at learning rate 1e-4.
WARM_START_STAGE = (3 ** 7, 1e-4)
ACTIVITY_EXAMPLES = 500  # the code's get_units_variances: the first 500 training examples


def posterior_means(model, x, samples=100, seed=0):
    """``{layer: E_q[z_l | x]}``, each ``[batch, units]``.

    ``E_q[z_1 | x]`` is the encoder's mean (the mean of ``samples`` draws for a flow
    posterior); for deeper layers the mean of ``q(z_l | z_{l-1})`` is averaged over
    ``samples`` draws of ``z_{l-1} ~ q`` (Monte Carlo; the paper's code uses a single draw).
    """
    generator = keras.random.SeedGenerator(seed)
    encoded = model.encode(np.asarray(x, dtype="float32"))
    z, _ = model.posteriors[0].sample_and_log_prob(encoded, generator, k=samples)
    first = encoded[0] if model.config.posterior == "gaussian" else keras.ops.mean(z, axis=0)
    means = {model.latent_names[0]: keras.ops.convert_to_numpy(first)}
    for name, q in zip(model.latent_names[1:], model.posteriors[1:]):
        loc, scale = q(z)
        means[name] = keras.ops.mean(loc, axis=0).numpy()
        z = q.sample(loc, scale, seed=generator)
    return means


def active_unit_counts(model, x):
    """``{layer: active units}`` of ``model`` over the examples ``x`` (Burda et al. 2016, sec. 5.2)."""
    return callbacks.active_units(posterior_means(model, x))[0]


def _first_dense(block):
    """The Dense layers of ``block`` (a network or a head) that read its input directly."""
    if isinstance(block, layers.MLP):
        return block.dense[:1]
    if isinstance(block, layers.ConvDecoder):
        return [block.dense]
    return [block.trunk.dense[0]] if block.trunk.dense else list(block.heads.values())


def remove_units(head, inactive, consumers=(), prior=None):
    """Delete the units ``inactive`` (bool mask) of a Gaussian stochastic layer, in place.

    Deleting unit u (as Burda et al.'s code does after training) is done without
    reshaping: ``q(z_u | .)`` (``head``) and, for a non-top layer, ``p(z_u | .)`` (``prior``)
    become exactly ``N(0, 1)`` (zero loc and log-scale weights), so ``log p - log q`` of the
    unit is 0 for every sample, and every ``consumer`` (a Dense layer fed by the z's)
    gets a zero input row for u, so nothing downstream sees it. For a top layer the prior
    already is ``N(0, I)``.
    """
    inactive = np.asarray(inactive, dtype=bool)
    for gaussian in (head, prior):
        if gaussian is None:
            continue
        for dense in gaussian.heads.values():
            kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
            kernel[:, inactive], bias[inactive] = 0.0, 0.0
            dense.kernel.assign(kernel)
            dense.bias.assign(bias)
    for dense in consumers:
        kernel = dense.kernel.numpy()
        kernel[inactive, :] = 0.0
        dense.kernel.assign(kernel)


def remove_inactive_units(model, masks):
    """Delete, in place, the units whose ``masks[layer]`` entry is False (see :func:`remove_units`).

    Raises ``ValueError`` for a flow posterior, whose units are mixed by the flow.
    """
    if model.config.posterior != "gaussian":
        raise ValueError(f"--remove-inactive needs a diagonal-Gaussian posterior; this model's q(z1|x) is a "
                         f"{model.config.posterior} flow, which mixes the units.")
    for i, name in enumerate(model.latent_names):
        readers = model.posteriors[i + 1:i + 2] + ([model.decoder] if i == 0 else model.priors[i - 1:i])
        consumers = [dense for block in readers for dense in _first_dense(block)]
        prior = model.priors[i] if i < len(model.priors) else None
        remove_units(model.posteriors[i], ~np.asarray(masks[name]), consumers, prior)


def warm_start(run_dir, objective, k, estimator="total", seed=None, optimizer=None):
    """A 1-layer model training ``objective`` with ``k`` samples, initialised at the run in ``run_dir``.

    Weights come from the run; the optimizer's moments and step count too when the run kept a
    checkpoint (the published code continues with the trained model's Adam).
    """
    source, _ = runs.load(run_dir)
    if not isinstance(source, IWAE) or source.config.layers != 1:
        raise ValueError(f"{run_dir} must hold a 1-layer VAE/IWAE run to warm-start from.")
    config = {**vars(source.config), "objective": objective, "k": k, "estimator": estimator, "seed": seed}
    model = IWAE(**config)
    model.build()
    model.set_weights(source.get_weights())
    model.compile(optimizer=optimizer or paper_optimizer())
    checkpoint = runs.latest_checkpoint(run_dir, required=False)
    if checkpoint is not None:
        trained, _ = runs.load_checkpoint(checkpoint)
        model.build_optimizers()
        for mine, theirs in zip(model.optimizer.variables, trained.optimizer.variables):
            if not mine.path.endswith("learning_rate"):
                mine.assign(theirs)
    return model
