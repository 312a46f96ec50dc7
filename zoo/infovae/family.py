"""The InfoVAE family's hooks: shuffled test data, ``log p(x)`` by IWAE_k and the held-out
measures of the Lagrangian's parts (used by ``tfgen evaluate``, ``tfgen sample`` and presets)."""

from zoo.families import Family

# Examples per batch of the held-out MMD, by estimator. The biased (V-statistic) estimate's
# expectation depends on the batch (its floor 2 (1 - E k) / n): 250, the authors' batch size,
# which their e2 targets assume. The unbiased one's does not, and larger batches cut its noise:
# for the shipped LagVAE preset the standard error over the 10,000 test images is 0.07 with
# batches of 250 and 0.04 with batches of 1000 (the kernel matrices of a batch of 1000 x 64
# latent units take 256 MB).
MMD_BATCH = {"biased": 250, "unbiased": 1000}
MI_EXAMPLES = 10000  # test examples of the I_q(x; z) estimate (ceiling log 10000 = 9.21 nats)
ORDER_SEED = 0  # seed of the one fixed shuffle (and binarisation of grey pixels) of the test split


class InfoVAEFamily(Family):
    """InfoVAE / LagVAE runs (``tfgen train infovae``).

    The test figure is ``log p(x)`` by the IWAE_k estimate (Burda, Grosse & Salakhutdinov,
    "Importance Weighted Autoencoders", ICLR 2016), nats per example, with ``k = 1000`` by
    default (the authors report no likelihood; the cost grows linearly in k, and 1000 is a
    fifth of the IWAE family's 5000 decoder passes of the authors' 1024-unit MLP). Beside it
    :meth:`measure` reports the Lagrangian's parts on the same examples
    (:func:`zoo.infovae.model.held_out_measures`): ``consistency``, ``rate``, ``mmd``
    (10000 x MMD^2 with the model's estimator over shuffled batches of :data:`MMD_BATCH`) and
    ``mutual_information``
    (over up to :data:`MI_EXAMPLES` examples).
    """

    name = "infovae"
    references = ('Zhao, Song & Ermon, "The Information Autoencoding Family: A Lagrangian Perspective on '
                  'Latent Variable Generative Models", UAI 2018',)
    default_k = 1000

    def test_data(self, model, settings, split="test", batch_size=100):
        """The split as :meth:`Family.test_data` gives it (grey pixels binarised once, with seed
        :data:`ORDER_SEED`, for a Bernoulli likelihood), in one fixed shuffled order (the same
        seed): consecutive images of an ordered split (e.g. binarized MNIST's test set) are far
        from exchangeable, so ``model.evaluate``'s batch MMD would be inflated."""
        import numpy as np
        import tensorflow as tf

        from tfgen import data

        x = _rows(data.load(settings["dataset"], split, batch_size, seed=ORDER_SEED,
                            binarize=model.config.likelihood == "bernoulli"))
        x = x[np.random.default_rng(ORDER_SEED).permutation(len(x))]
        return tf.data.Dataset.from_tensor_slices(x).batch(batch_size)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        """``{"log_likelihood": IWAE_k mean, "consistency", "rate", "mmd", "mutual_information"}``."""
        from zoo.infovae.model import held_out_measures

        figures = super().measure(model, dataset, k, seed, verbose)
        batch = MMD_BATCH[model.config.mmd_estimator]
        return {**figures, **held_out_measures(model, _rows(dataset), batch, MI_EXAMPLES, seed)}

    def registry(self, settings):
        """The named configurations of the run's ``--method`` (infovae or lagvae)."""
        from zoo.infovae.configs import CONFIGS

        return CONFIGS[settings.get("method", "infovae")]


def _rows(dataset):
    """The examples of a batched ``dataset`` (``x`` or ``(x, ...)`` batches) as one NumPy array."""
    import numpy as np

    return np.concatenate([batch[0] if isinstance(batch, tuple) else batch
                           for batch in dataset.as_numpy_iterator()])


FAMILY = InfoVAEFamily()
