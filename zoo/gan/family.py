"""The GAN family's hooks: samples; a GAN has no likelihood, so its test figures are measured at training."""

from zoo.families import Family


class GANFamily(Family):
    """GAN runs (``tfgen train gan``): samples as every family; ``tfgen evaluate`` refuses (no likelihood)."""

    name = "gan"
    data_fields = ("seed", "image_shape")

    def test_data(self, model, settings, split="test", batch_size=100):
        from tfgen import data

        return data.load(settings["dataset"], split, batch_size, binarize=False)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        raise ValueError(
            "A GAN has no likelihood to estimate; tfgen train gan records its test figures "
            "(kernel MMD and the classifier two-sample test) in the run's metrics.json."
        )


FAMILY = GANFamily()
