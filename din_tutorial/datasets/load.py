"""One entry point for every source: ``load_dataset(name_or_path, format=None, **kw)``.

It returns the seed's schema (see :mod:`din_tutorial.datasets.schema`) whatever the source:

============== ==================================================================== =====================
format         what it reads                                                        loader
============== ==================================================================== =====================
``sample``     the bundled ``data/amazon_electronics_sample.csv`` (synthetic)       :func:`load_sample`
``synthetic``  a fresh log from the generator; ``**kw`` are its knobs               :func:`make_synthetic_amazon`
``csv``        a CSV already in the seed's schema                                   :func:`load_csv`
``rechub_csv`` torch-rechub's ``user_id,item_id,time,cate_id`` CSV                  :func:`load_rechub_csv`
``amazon``     ``reviews_Electronics_5.json[.gz]`` + ``meta_Electronics.json[.gz]`` :func:`load_amazon_electronics`
``ml-1m``      MovieLens-1M's ``ratings.dat users.dat movies.dat``                  :func:`load_movielens_1m`
``ml-100k``    MovieLens-100K's ``u.data u.user u.item``                            :func:`load_movielens_100k`
============== ==================================================================== =====================

Without ``format`` it is guessed: ``"sample"`` and ``"synthetic"`` name themselves, a name of
the download registry (``"ml-1m"``, ``"amazon-electronics"``, ...) that is not an existing
path is downloaded first (see :func:`download`), and a path is recognised by the files it holds.

Taught in notebooks/01_data_preparation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .amazon import RECHUB_COLUMNS, REVIEWS_FILE, load_amazon_electronics, load_rechub_csv
from .downloads import REGISTRY, download
from .movielens import load_movielens_1m, load_movielens_100k
from .sample import load_sample
from .schema import SCHEMA, load_csv
from .synthetic import make_synthetic_amazon

FORMATS: tuple[str, ...] = ("sample", "synthetic", "csv", "rechub_csv", "amazon", "ml-1m", "ml-100k")
_DOWNLOAD_KW = ("dest", "base_url", "check_hash", "progress")


def detect_format(path: str | Path) -> str:
    """Guess the format of a file or folder from the files it holds (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if "ratings.dat" in names:
            return "ml-1m"
        if "u.data" in names:
            return "ml-100k"
        if REVIEWS_FILE in names or REVIEWS_FILE + ".gz" in names:
            return "amazon"
        csvs = sorted(n for n in names if n.endswith(".csv"))
        if len(csvs) == 1:
            return detect_format(path / csvs[0])
        raise ValueError(
            f"cannot tell the format of folder {path}: expected ratings.dat (ml-1m), u.data (ml-100k), "
            f"{REVIEWS_FILE}[.gz] (amazon) or a single CSV; pass format= one of {list(FORMATS)}"
        )
    name = path.name
    if name.startswith("reviews_") and ".json" in name:
        return "amazon"
    if name in ("ratings.dat", "users.dat", "movies.dat"):
        return "ml-1m"
    if name in ("u.data", "u.user", "u.item"):
        return "ml-100k"
    if name.endswith((".csv", ".csv.gz")):
        header = set(pd.read_csv(path, nrows=0).columns)
        if set(SCHEMA) <= header:
            return "csv"
        if set(RECHUB_COLUMNS) <= header:
            return "rechub_csv"
        missing = [c for c in SCHEMA if c not in header]
        raise ValueError(
            f"{path} is missing column(s) {missing} of the seed's schema {list(SCHEMA)} "
            f"(and is not torch-rechub's {list(RECHUB_COLUMNS)}); rename its columns, or pass format="
        )
    raise ValueError(f"cannot tell the format of {path}; pass format= one of {list(FORMATS)}")


def load_dataset(name_or_path: str | Path, format: str | None = None, **kw) -> pd.DataFrame:
    """Load a behaviour log in the seed's schema from a name or a path.

    Parameters
    ----------
    name_or_path:
        ``"sample"``, ``"synthetic"``, a download-registry name (``"ml-1m"``, ``"ml-100k"``,
        ``"amazon-electronics"``, ``"rechub-amazon-electronics"``), or a file or folder.
    format:
        One of :data:`FORMATS`; guessed when omitted.
    **kw:
        Passed to the loader (``min_rating=`` for MovieLens, ``meta_path=`` for Amazon, the
        generator's knobs for ``"synthetic"``) or, for a registry name, to :func:`download`
        (``dest``, ``base_url``, ``check_hash``, ``progress``).

    Taught in notebooks/01_data_preparation.ipynb.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {list(FORMATS)}")
    key = str(name_or_path)
    if format is None and key in ("sample", "synthetic"):
        format = key
    if format in ("sample", "synthetic"):
        if format == "sample":
            if kw:
                raise TypeError(f"the bundled sample takes no options, got {sorted(kw)}")
            return load_sample()
        return make_synthetic_amazon(**kw)[0]

    path = Path(name_or_path)
    if key in REGISTRY and not path.exists():
        dl_kw = {k: kw.pop(k) for k in _DOWNLOAD_KW if k in kw}
        path = download(key, **dl_kw)
        format = format or REGISTRY[key].format
    if not path.exists():
        raise FileNotFoundError(
            f"no such file or folder: {path}. Give a path, 'sample', 'synthetic', or a dataset to download: "
            f"{sorted(REGISTRY)}"
        )
    format = format or detect_format(path)

    if format == "csv":
        return load_csv(_single_csv(path), **kw)
    if format == "rechub_csv":
        return load_rechub_csv(_single_csv(path), **kw)
    if format == "amazon":
        return load_amazon_electronics(path, **kw)
    folder = path if path.is_dir() else path.parent
    if format == "ml-1m":
        return load_movielens_1m(folder, **kw)
    return load_movielens_100k(folder, **kw)


def _single_csv(path: Path) -> Path:
    if path.is_file():
        return path
    csvs = sorted(path.glob("*.csv"))
    if len(csvs) != 1:
        raise ValueError(f"expected exactly one CSV in {path}, found {[p.name for p in csvs]}; pass the file's path")
    return csvs[0]


__all__ = ["FORMATS", "detect_format", "load_dataset"]
