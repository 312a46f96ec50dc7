"""The DRAW family's hooks: binary test images, ``log p(x)`` by IWAE_k."""

from zoo.families import Family


class DRAWFamily(Family):
    """DRAW runs (``tfgen train draw``): ``log p(x)`` by IWAE_k over the T steps' latents (k = 1000)."""

    name = "draw"
    default_k = 1000

    def test_data(self, model, settings, split="test", batch_size=100):
        from tfgen import data

        return data.load(settings["dataset"], split, batch_size, binarize=True)


FAMILY = DRAWFamily()
