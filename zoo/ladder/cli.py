"""Ladder VAE (Sonderby et al. 2016): ``tfgen train ladder``.

::

    tfgen train ladder --dataset binarized_mnist --config sonderby2016_l5 --epochs 20 \\
        --warmup-epochs 10 --out runs/lvae_l5
    tfgen train ladder --layers 2 --batch-norm false --warmup-epochs 0 --out runs/lvae_l2_plain

Flags and training: :mod:`zoo.image_training` (warm-up over ``--warmup-epochs``, Sonderby et
al. use 200 of their 2000 epochs; the default here is 10).
"""
from zoo import image_training
from zoo.ladder.configs import CONFIGS, LadderConfig


def add_train_arguments(parser):
    image_training.add_train_arguments(parser, LadderConfig, CONFIGS, warmup_default=10)


def train(args):
    from zoo.ladder.family import FAMILY
    from zoo.ladder.model import LadderVAE

    return image_training.train(args, LadderVAE, LadderConfig, CONFIGS, FAMILY)


VERBS = {"train": (add_train_arguments, train)}
