"""tfgen zoo: one module per paper family, built from :mod:`tfgen`.

``zoo.load(name)`` returns a pretrained, compiled model; ``zoo.available()`` lists them.
"""
from zoo.presets import available, load  # noqa: F401
