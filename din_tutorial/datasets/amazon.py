"""Amazon Electronics, the DIN paper's public dataset: raw review dumps and torch-rechub's CSV.

Two sources end in the seed's schema (see :mod:`din_tutorial.datasets.schema`):

* the raw 2014 dumps from McAuley et al. (``reviews_Electronics_5.json[.gz]``, the 5-core
  reviews, and ``meta_Electronics.json[.gz]``, the product metadata), processed as the official
  DIN pipeline does: one behaviour per review (``reviewerID, asin, unixReviewTime``), and the
  item's category is the last element of the LAST path in its ``categories`` list;
* torch-rechub's preprocessed CSV (``user_id,item_id,time,cate_id``), the file the seed reads.

Neither has a user profile, so ``gender, age, occupation, zip`` are filled with
:data:`~din_tutorial.datasets.schema.MISSING_PROFILE_CODE` (0). Timestamps are days (the dumps
store review *dates*), so one user's behaviours can tie; the loaders order ties by item id.

Taught in notebooks/01_data_preparation.ipynb.
"""
from __future__ import annotations

import ast
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import encode_sorted, fill_profile, to_schema

#: Category label given to items that have no metadata (or an empty category list).
UNKNOWN_CATEGORY = "<unknown>"

REVIEWS_FILE = "reviews_Electronics_5.json"
META_FILE = "meta_Electronics.json"


def _open_text(path: Path) -> io.TextIOBase:
    # gzip is recognised by its magic bytes, not the name, so a renamed file still opens
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_json_lines(path: str | Path) -> Iterator[dict]:
    """Yield one record per non-empty line of a JSON-lines file, gzipped or plain.

    Accepts strict JSON (``{"asin": "B00..."}``) and the 2014 dumps' loose format, where each
    line is a Python dict literal (``{'asin': 'B00...'}``) that ``json`` rejects; those lines
    are parsed with ``ast.literal_eval``, which evaluates literals only, never code.
    """
    path = Path(path)
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                try:
                    record = ast.literal_eval(line)
                except (ValueError, SyntaxError) as err:
                    raise ValueError(f"{path}, line {lineno}: neither JSON nor a Python dict literal ({err})") from None
                if not isinstance(record, dict):
                    raise TypeError(f"{path}, line {lineno}: expected one record (a dict) per line") from None
                yield record


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"{directory} has neither {stem}.gz nor {stem}; download them with "
        f"din_tutorial.download('amazon-electronics') or pass the files' paths"
    )


def _last_category(categories) -> str:
    # the official DIN pipeline: x[-1][-1], the most specific label of the last path
    if isinstance(categories, (list, tuple)) and categories:
        last = categories[-1]
        if isinstance(last, (list, tuple)) and last:
            return str(last[-1])
        if isinstance(last, str):
            return last
    return UNKNOWN_CATEGORY


def load_amazon_electronics(
    path: str | Path,
    meta_path: str | Path | None = None,
) -> pd.DataFrame:
    """Load the raw Amazon Electronics dumps into the seed's schema.

    Parameters
    ----------
    path:
        A directory holding ``reviews_Electronics_5.json[.gz]`` and ``meta_Electronics.json[.gz]``,
        or the reviews file itself (then ``meta_path`` names the metadata file).
    meta_path:
        The metadata file, when ``path`` is the reviews file.

    Ids are re-encoded to dense codes in sorted order of the raw strings (``reviewerID``,
    ``asin``, category label), so the same files always give the same ids. Reviews of items
    without metadata are kept, in the category :data:`UNKNOWN_CATEGORY` (the official pipeline
    drops them with an inner join; keeping them keeps the 5-core histories whole). Its code is
    the last one, after the real categories.

    On the full dumps (1.7 M reviews, 0.5 M metadata lines in the loose format, which needs
    ``ast.literal_eval`` line by line) this takes a few minutes; save the result with
    ``to_csv`` and reload it with ``load_dataset(path, format="csv")``.

    Taught in notebooks/01_data_preparation.ipynb.
    """
    path = Path(path)
    if path.is_dir():
        reviews_file, meta_file = _find(path, REVIEWS_FILE), _find(path, META_FILE)
    else:
        if not path.is_file():
            raise FileNotFoundError(f"no such reviews file: {path}")
        if meta_path is None:
            meta_file = _find(path.parent, META_FILE)
        else:
            meta_file = Path(meta_path)
            if not meta_file.is_file():
                raise FileNotFoundError(f"no such metadata file: {meta_file}")
        reviews_file = path

    fields = ("reviewerID", "asin", "unixReviewTime")
    rows = []
    for i, rec in enumerate(read_json_lines(reviews_file)):
        missing = [k for k in fields if k not in rec]
        if missing:
            raise ValueError(f"{reviews_file}: record {i + 1} has no field(s) {missing}; expected {list(fields)}")
        rows.append((rec["reviewerID"], rec["asin"], rec["unixReviewTime"]))
    if not rows:
        raise ValueError(f"{reviews_file} holds no reviews")
    reviews = pd.DataFrame(rows, columns=list(fields))

    wanted = set(reviews["asin"])
    category_of = {}
    for i, rec in enumerate(read_json_lines(meta_file)):
        if "asin" not in rec:
            raise ValueError(f"{meta_file}: record {i + 1} has no field 'asin'")
        if rec["asin"] in wanted:  # the metadata covers all of Amazon; keep what was reviewed
            category_of[rec["asin"]] = _last_category(rec.get("categories"))

    labels = reviews["asin"].map(category_of).fillna(UNKNOWN_CATEGORY)
    known = sorted(set(labels) - {UNKNOWN_CATEGORY})
    code = {c: i for i, c in enumerate(known)}
    code[UNKNOWN_CATEGORY] = len(known)

    frame = pd.DataFrame(
        {
            "user_id": encode_sorted(reviews["reviewerID"])[0],
            "item_id": encode_sorted(reviews["asin"])[0],
            "cate_id": labels.map(code).to_numpy(np.int64),
            "timestamp": pd.to_numeric(reviews["unixReviewTime"], errors="raise").to_numpy(np.int64),
        }
    )
    return to_schema(fill_profile(frame), source=str(reviews_file))


#: torch-rechub's column names -> the seed's.
RECHUB_COLUMNS = {"user_id": "user_id", "item_id": "item_id", "time": "timestamp", "cate_id": "cate_id"}


def load_rechub_csv(path: str | Path) -> pd.DataFrame:
    """Load torch-rechub's ``amazon_electronics_sample.csv`` (``user_id,item_id,time,cate_id``).

    ``time`` becomes ``timestamp``; the profile columns are filled with 0. Ids are kept as they
    are (torch-rechub already encoded them; item 0 is a real item there).

    Taught in notebooks/01_data_preparation.ipynb.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    raw = pd.read_csv(path)
    missing = [c for c in RECHUB_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{path} is missing column(s) {missing}; torch-rechub's CSV has {list(RECHUB_COLUMNS)}. "
            f"For a CSV already in the seed's schema use load_dataset(path, format='csv')."
        )
    frame = raw[list(RECHUB_COLUMNS)].rename(columns=RECHUB_COLUMNS)
    return to_schema(fill_profile(frame), source=str(path))
