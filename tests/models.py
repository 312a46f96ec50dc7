"""Tiny zoo models shared by several test files."""
import keras

from zoo.iwae.model import IWAE, paper_optimizer


def tiny_iwae(k=2, layers=1, seed=0):
    """A compiled IWAE over 6 binary values: latent 3 (or 4 and 3), hidden 8 (and 6)."""
    keras.utils.set_random_seed(seed)
    latent, hidden = ((3,), ((8,),)) if layers == 1 else ((4, 3), ((8,), (6,)))
    model = IWAE(image_shape=(6, 1, 1), layers=layers, k=k, latent=latent, hidden=hidden, seed=seed)
    model.build()
    model.compile(optimizer=paper_optimizer())
    return model
