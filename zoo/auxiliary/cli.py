"""Auxiliary VAE (Maaloe et al. 2016): ``tfgen train auxiliary``.

::

    tfgen train auxiliary --dataset binarized_mnist --epochs 20 --out runs/avae
    tfgen train auxiliary --auxiliary 100 --warmup-epochs 10 --out runs/avae_a100

Flags and training: :mod:`zoo.image_training`.
"""
from zoo import image_training
from zoo.auxiliary.configs import CONFIGS, AuxiliaryConfig


def add_train_arguments(parser):
    image_training.add_train_arguments(parser, AuxiliaryConfig, CONFIGS)


def train(args):
    from zoo.auxiliary.family import FAMILY
    from zoo.auxiliary.model import AuxiliaryVAE

    return image_training.train(args, AuxiliaryVAE, AuxiliaryConfig, CONFIGS, FAMILY)


VERBS = {"train": (add_train_arguments, train)}
