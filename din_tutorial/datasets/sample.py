"""The bundled sample: ``data/amazon_electronics_sample.csv`` and its ground-truth side file.

Both files are written by :func:`write_sample` from :func:`make_synthetic_amazon`'s default call
(``n_users=DEFAULT_N_USERS, seed=DEFAULT_SEED``) with a fixed format, so regenerating them
reproduces the committed bytes (a test checks the sha256):

* ``pandas.DataFrame.to_csv(index=False, lineterminator="\\n")``, a header line, integers only,
  rows in the log's order (user, then time).
* The truth file ``amazon_electronics_sample_truth.csv`` has one line per line of the sample,
  in the same order (row ``i`` describes sample row ``i``), with the columns
  :data:`TRUTH_COLUMNS`; ``user_id`` and ``timestamp`` repeat the sample's, so the two also
  join on ``(user_id, timestamp)`` (unique: timestamps increase strictly per user).

NumPy does not promise the same random streams across versions, so a future NumPy may
regenerate different bytes; the committed CSV stays the reference.

Regenerate with ``python -m din_tutorial.datasets`` (writes into ``data/``).

Taught in notebooks/01_data_preparation.ipynb.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import load_csv
from .synthetic import DEFAULT_N_USERS, DEFAULT_SEED, make_synthetic_amazon

SAMPLE_FILE = "amazon_electronics_sample.csv"
TRUTH_FILE = "amazon_electronics_sample_truth.csv"
#: Columns of the truth side file (see :class:`~din_tutorial.datasets.synthetic.SyntheticTruth`).
TRUTH_COLUMNS: tuple[str, ...] = ("user_id", "timestamp", "interest", "fresh", "new_interest", "trigger_pos")


def repo_data_dir() -> Path:
    """``data/`` next to the package: where the committed files are in a clone (editable install)."""
    return Path(__file__).resolve().parents[2] / "data"


def _cache_dir() -> Path:
    from .downloads import default_data_dir

    return default_data_dir() / "sample"


def sample_path(which: str = "sample") -> Path:
    """Path of the bundled CSV (``which="sample"``) or of its truth file (``which="truth"``).

    In a clone the committed files in ``data/`` are used. Where they are missing (the package
    was installed without the repository) both are generated once into the download cache
    (``$DIN_TUTORIAL_DATA_DIR/sample``), which takes a few seconds.
    """
    if which not in ("sample", "truth"):
        raise ValueError(f"which must be 'sample' or 'truth', got {which!r}")
    name = SAMPLE_FILE if which == "sample" else TRUTH_FILE
    for folder in (repo_data_dir(), _cache_dir()):
        if (folder / SAMPLE_FILE).is_file() and (folder / TRUTH_FILE).is_file():
            return folder / name
    write_sample(_cache_dir())
    return _cache_dir() / name


def load_sample() -> pd.DataFrame:
    """The bundled sample in the seed's schema. Taught in notebooks/01_data_preparation.ipynb."""
    return load_csv(sample_path("sample"))


def load_sample_truth() -> pd.DataFrame:
    """The sample's ground truth, row-aligned with :func:`load_sample` (never a model input).

    Columns :data:`TRUTH_COLUMNS` plus ``trigger_row`` (the triggering behaviour's row in the
    sample, -1 for fresh behaviours). ``category_theme(load_sample(), truth)`` gives the
    category -> interest map. Taught in notebooks/01_data_preparation.ipynb.
    """
    truth = pd.read_csv(sample_path("truth"), dtype=np.int64)
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise ValueError(f"{sample_path('truth')} lacks column(s) {missing}; regenerate it with "
                         f"python -m din_tutorial.datasets")
    first_row = np.r_[0, np.flatnonzero(np.diff(truth["user_id"].to_numpy())) + 1]
    offset = np.repeat(first_row, np.diff(np.r_[first_row, len(truth)]))
    pos = truth["trigger_pos"].to_numpy()
    truth["trigger_row"] = np.where(pos >= 0, offset + pos, -1)
    return truth


def _write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    # write to a temporary file in the same folder, then rename: readers never see half a file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False, lineterminator="\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file is for everyone to read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_sample(
    directory: str | Path,
    n_users: int = DEFAULT_N_USERS,
    seed: int = DEFAULT_SEED,
) -> tuple[Path, Path]:
    """Generate the sample and write it and its truth file into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    frame, truth = make_synthetic_amazon(n_users=n_users, seed=seed)
    sample, truth_path = directory / SAMPLE_FILE, directory / TRUTH_FILE
    _write_csv_atomic(frame, sample)
    _write_csv_atomic(truth.behaviours[list(TRUTH_COLUMNS)], truth_path)
    return sample, truth_path


def sha256(path: str | Path) -> str:
    """Hex SHA256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    """Regenerate the bundled files and print their sha256 (``python -m din_tutorial.datasets [--out DIR]``)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", default=str(repo_data_dir()), help="folder to write into (default: the repo's data/)")
    parser.add_argument("--n-users", type=int, default=DEFAULT_N_USERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    for path in write_sample(args.out, n_users=args.n_users, seed=args.seed):
        print(f"{sha256(path)}  {path}")

