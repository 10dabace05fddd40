"""Checks for the exercises of notebooks/06_evaluation.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).
"""
from __future__ import annotations

from ._core import ExerciseFailed, compare, exercise  # noqa: F401

__all__: list[str] = []
