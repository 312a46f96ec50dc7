"""tfgen zoo: one package per paper family (:mod:`zoo.families`), built from :mod:`tfgen`.

``zoo.load(name)`` returns a pretrained, compiled model; ``zoo.available()`` lists them.
"""


def load(preset, **kwargs):
    """A pretrained, compiled zoo model; see :func:`zoo.presets.load`."""
    from zoo import presets

    return presets.load(preset, **kwargs)


def available():
    """``{name: metadata}`` of every registered preset; see :func:`zoo.presets.available`."""
    from zoo import presets

    return presets.available()
