"""DIN's building blocks, one concept per module.

- :mod:`.embedding`: :class:`EmbeddingLayer` (notebooks/02_feature_definitions.ipynb)
- :mod:`.activation_unit`: :class:`ActivationUnit` (notebooks/03_activation_unit.ipynb)
- :mod:`.dice`: :class:`Dice` (notebooks/04_dice.ipynb)
- :mod:`.mlp`: :class:`MLP` (notebooks/05_training.ipynb)
"""
from .activation_unit import ActivationUnit, PackedSteps
from .dice import Dice
from .embedding import EmbeddingLayer, FeatureConfigError, InputError, MissingInputError
from .mlp import MLP, Dropout, PReLU, make_activation

__all__ = [
    "MLP",
    "ActivationUnit",
    "Dice",
    "Dropout",
    "EmbeddingLayer",
    "FeatureConfigError",
    "InputError",
    "MissingInputError",
    "PReLU",
    "PackedSteps",
    "make_activation",
]
