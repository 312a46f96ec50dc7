"""The Ladder VAE family's hooks: ``log p(x)`` by IWAE_k (k = 5000) on the test images."""
from zoo.families import Family


class LadderFamily(Family):
    """Ladder VAE runs (``tfgen train ladder``): the test figure is the IWAE_k estimate of
    ``log p(x)`` in nats per image (Sonderby et al. 2016 use k = 5000)."""

    name = "ladder"


FAMILY = LadderFamily()
