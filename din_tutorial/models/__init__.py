"""The models: :class:`DIN` and the paper's :class:`BaseModel`, built from the same feature lists.

Taught in notebooks/03_activation_unit.ipynb and notebooks/05_training.ipynb.
"""
from .base_model import BaseModel
from .ctr_model import CTRModel
from .din import DIN

__all__ = ["DIN", "BaseModel", "CTRModel"]
