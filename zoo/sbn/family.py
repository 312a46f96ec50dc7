"""The SBN family's hooks: the IWAE family's test data and ``log p(x)`` by IWAE_k (k = 5000)."""
from zoo.families import Family


class SBNFamily(Family):
    """Sigmoid belief network runs (``tfgen train sbn``): ``log p(x)`` by the IWAE_k estimate
    over binary samples of ``q`` (k = 5000, as the IWAE family), nats per image."""

    name = "sbn"


FAMILY = SBNFamily()
