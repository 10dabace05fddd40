"""Behaviour logs in the seed's schema: the bundled synthetic sample, its generator, real-data loaders, downloads.

Every function here returns one pandas DataFrame with the columns
``user_id, item_id, cate_id, timestamp, gender, age, occupation, zip`` (int64), the table
``generate_seq_feature`` turns into training samples.

=========================== ==========================================================
module                      concept
=========================== ==========================================================
:mod:`.schema`              the table every loader returns, and its checks
:mod:`.synthetic`           the "triggered themes" generator and its ground truth
:mod:`.sample`              the committed ``data/amazon_electronics_sample.csv``
:mod:`.amazon`              Amazon Electronics raw dumps and torch-rechub's CSV
:mod:`.movielens`           MovieLens-1M and MovieLens-100K
:mod:`.downloads`           checksummed, cached downloads (pooch)
:mod:`.load`                ``load_dataset``: one entry point for all of them
=========================== ==========================================================

Taught in notebooks/01_data_preparation.ipynb.
"""
from __future__ import annotations

from .amazon import load_amazon_electronics, load_rechub_csv, read_json_lines
from .downloads import REGISTRY, ChecksumError, download
from .load import FORMATS, detect_format, load_dataset
from .movielens import load_movielens_1m, load_movielens_100k
from .sample import load_sample, load_sample_truth, sample_path, write_sample
from .schema import MISSING_PROFILE_CODE, PROFILE_COLUMNS, SCHEMA, load_csv, spread_ids, to_schema
from .synthetic import (
    DEFAULT_N_USERS,
    DEFAULT_SEED,
    SyntheticTruth,
    category_theme,
    describe,
    interest_diversity,
    make_synthetic_amazon,
)

__all__ = [
    "DEFAULT_N_USERS",
    "DEFAULT_SEED",
    "FORMATS",
    "MISSING_PROFILE_CODE",
    "PROFILE_COLUMNS",
    "REGISTRY",
    "SCHEMA",
    "ChecksumError",
    "SyntheticTruth",
    "category_theme",
    "describe",
    "detect_format",
    "download",
    "interest_diversity",
    "load_amazon_electronics",
    "load_csv",
    "load_dataset",
    "load_movielens_1m",
    "load_movielens_100k",
    "load_rechub_csv",
    "load_sample",
    "load_sample_truth",
    "make_synthetic_amazon",
    "read_json_lines",
    "sample_path",
    "spread_ids",
    "to_schema",
    "write_sample",
]
