"""Self-checks for the notebooks' exercises: ``from din_tutorial.checks import check_...``.

One module per notebook; see :mod:`din_tutorial.checks._core` for how a check reports.
"""
from ._core import ExerciseFailed, compare, exercise
from .data_checks import *  # noqa: F401,F403  (01)
from .feature_checks import *  # noqa: F401,F403  (02)
from .attention_checks import *  # noqa: F401,F403  (03)
from .dice_checks import *  # noqa: F401,F403  (04)
from .training_checks import *  # noqa: F401,F403  (05)
from .evaluation_checks import *  # noqa: F401,F403  (06)
from .visualization_checks import *  # noqa: F401,F403  (07)
from .export_checks import *  # noqa: F401,F403  (08)
from .scaling_checks import *  # noqa: F401,F403  (09)
from .real_data_checks import *  # noqa: F401,F403  (10)
from . import (
    attention_checks,
    data_checks,
    dice_checks,
    evaluation_checks,
    export_checks,
    feature_checks,
    real_data_checks,
    scaling_checks,
    training_checks,
    visualization_checks,
)

__all__ = ["ExerciseFailed", "compare", "exercise"]
for _m in (data_checks, feature_checks, attention_checks, dice_checks, training_checks, evaluation_checks,
           visualization_checks, export_checks, scaling_checks, real_data_checks):
    __all__ += list(_m.__all__)
