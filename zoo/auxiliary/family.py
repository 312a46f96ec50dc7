"""The auxiliary VAE family's hooks: ``log p(x)`` by IWAE_k (k = 5000) on the test images."""
from zoo.families import Family


class AuxiliaryFamily(Family):
    """Auxiliary VAE runs (``tfgen train auxiliary``): the test figure is the IWAE_k estimate
    of ``log p(x)`` in nats per image, importance sampling ``(a, z)`` jointly from
    ``q(a | x) q(z | a, x)``."""

    name = "auxiliary"


FAMILY = AuxiliaryFamily()
