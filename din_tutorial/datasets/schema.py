"""The one table every loader returns: the seed tutorial's behaviour-log schema.

Every source (the bundled synthetic sample, Amazon Electronics, torch-rechub's CSV, MovieLens)
ends up as one pandas DataFrame with exactly these columns, all ``int64``::

    user_id, item_id, cate_id, timestamp, gender, age, occupation, zip

one row per behaviour (a review, a rating, a click), sorted by user and then time. Ids are
dense codes starting at 0, so the seed's vocabulary sizes (``data[col].max() + 1``) are
enough and nothing downstream re-encodes them.

Sources without a user profile (Amazon Electronics has none) get :data:`MISSING_PROFILE_CODE`
(0) in ``gender``, ``age``, ``occupation`` and ``zip``: the seed's feature list uses all four,
so the columns stay, each with a vocabulary of one code that carries no information.

Taught in notebooks/01_data_preparation.ipynb.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

#: The seed's columns, in the seed's order.
SCHEMA: tuple[str, ...] = ("user_id", "item_id", "cate_id", "timestamp", "gender", "age", "occupation", "zip")

#: User-profile columns (constant per user).
PROFILE_COLUMNS: tuple[str, ...] = ("gender", "age", "occupation", "zip")

#: The code put in a profile column when the source has no such information.
MISSING_PROFILE_CODE = 0


def spread_ids(data: pd.DataFrame, columns: Iterable[str] = ("user_id", "item_id"), factor: int = 10,
               seed: int = 0) -> pd.DataFrame:
    """A copy of ``data`` whose id columns hold raw ids as a bigger system numbers them: sparse, not codes.

    Each code ``c`` of a column becomes a distinct id drawn below ``factor * (max + 1)``, in the
    codes' order (older items keep smaller ids). A log of 60,000 users and 20,000 items then has
    ids up to about 600,000 and 200,000, as real logs do: the case for ``data.encode_ids`` and
    the lean samples' ``encode`` (tables sized by the ids a log holds). Taught in
    notebooks/01_data_preparation.ipynb.
    """
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be an integer >= 1 (how far apart the raw ids lie), got {factor!r}")
    rng, out = np.random.default_rng(seed), data.copy()
    for col in columns:
        if col not in data.columns:
            raise KeyError(f"column {col!r} not found in data; it has {list(data.columns)}: name existing id columns")
        n = int(data[col].max()) + 1
        raw = np.sort(rng.choice(int(factor) * n, size=n, replace=False))  # distinct, in the codes' order
        out[col] = raw[data[col].to_numpy()]
    return out


def encode_sorted(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map raw ids (strings or numbers) to dense codes ``0..n-1`` in sorted order.

    Sorted order makes the codes deterministic: the same raw file always gives the same ids.
    Returns ``(codes, categories)`` with ``categories[code] == raw value``.
    """
    codes, uniques = pd.factorize(pd.Series(values), sort=True)
    if (codes < 0).any():
        raise ValueError("cannot encode missing (NaN/None) ids; drop or fill those rows first")
    return codes.astype(np.int64), np.asarray(uniques)


def to_schema(frame: pd.DataFrame, source: str = "the frame") -> pd.DataFrame:
    """Check that ``frame`` holds the seed's columns as non-negative integers; return them as int64.

    Extra columns are dropped, rows are sorted by user and time, equal times in the order
    ``generate_seq_feature`` gives them (``data.sort_log``). ``source`` names the file or loader in error messages, so a learner knows where
    to look.
    """
    missing = [c for c in SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source} is missing column(s) {missing}; the seed's schema is {list(SCHEMA)}. "
            f"Rename your columns, or pick the loader for your format with load_dataset(..., format=...)."
        )
    out = {}
    for col in SCHEMA:
        values = frame[col]
        if values.isna().any():
            n_missing = int(values.isna().sum())
            raise ValueError(f"{source}: column {col!r} has {n_missing} missing value(s); drop or fill those rows")
        if not pd.api.types.is_integer_dtype(values):
            numeric = pd.to_numeric(values, errors="coerce")
            if numeric.isna().any() or (numeric != np.floor(numeric)).any():
                raise ValueError(
                    f"{source}: column {col!r} must hold integer codes, got dtype {values.dtype}; "
                    f"encode it first (for example with din_tutorial.datasets.schema.encode_sorted)"
                )
            values = numeric
        values = values.astype(np.int64)
        if (values < 0).any():
            raise ValueError(f"{source}: column {col!r} has negative ids; ids must be codes 0..n-1")
        out[col] = values.to_numpy()
    from ..data import sort_log  # the one order of a log: (user, time, tie_key), as the samples are cut

    result = pd.DataFrame(out)
    return result.iloc[sort_log(result).order].reset_index(drop=True) if len(result) else result


def fill_profile(frame: pd.DataFrame, columns: Iterable[str] = PROFILE_COLUMNS) -> pd.DataFrame:
    """Add each missing profile column as :data:`MISSING_PROFILE_CODE` (sources without user profiles)."""
    frame = frame.copy()
    for col in columns:
        if col not in frame.columns:
            frame[col] = np.int64(MISSING_PROFILE_CODE)
    return frame


def load_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV that is already in the seed's schema (for example the bundled sample) and check it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    return to_schema(pd.read_csv(path), source=str(path))
