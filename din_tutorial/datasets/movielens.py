"""MovieLens-1M and MovieLens-100K, the public logs that come with a user profile.

Both end in the seed's schema (see :mod:`din_tutorial.datasets.schema`), one behaviour per
rating, with the codes below fixed (not learned from the file), so the same movie genre or
age group gets the same code in both datasets and in any subset of them:

* ``gender``: F -> 0, M -> 1.
* ``age``: MovieLens-1M's seven groups, 0: under 18, 1: 18-24, 2: 25-34, 3: 35-44, 4: 45-49,
  5: 50-55, 6: 56+. MovieLens-100K stores ages in years; they are put in the same groups.
* ``occupation``: MovieLens-1M's codes 0-20 as they are; MovieLens-100K's occupation names
  encoded in sorted order.
* ``zip``: the zip-code strings, encoded in sorted order (a high-cardinality code).
* ``cate_id``: the movie's FIRST genre, as its index in :data:`GENRES` (MovieLens-100K's order).
* ``user_id``, ``item_id``: the raw ids encoded to ``0..n-1`` in sorted order, over the users
  and movies that remain after the rating filter.

``min_rating`` keeps only ratings at or above it as behaviours; the default keeps every rating.
``min_rating=4`` keeps what the DIN paper labels positive on MovieLens-20M (section 6.1: ratings
4 and 5; "the rest" are its negatives, which this loader drops: negatives are sampled later, as
for Amazon). Both files here rate in whole stars; MovieLens-20M's half stars (0.5 to 5.0) would
need a choice the paper does not state (it also calls the positives "above 3": 3.5?).

Taught in notebooks/01_data_preparation.ipynb.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import encode_sorted, to_schema

#: MovieLens genres in MovieLens-100K's order (``u.genre``); a genre's code is its index.
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip

#: MovieLens-1M's age-group labels (the youngest age of each group), in code order.
AGE_GROUPS: tuple[int, ...] = (1, 18, 25, 35, 45, 50, 56)

GENDER_CODES = {"F": 0, "M": 1}


def _read_table(path: Path, sep: str, names: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(
            f"missing MovieLens file {path.name} in {path.parent}; download the dataset with "
            f"din_tutorial.download('ml-1m') or din_tutorial.download('ml-100k')"
        )
    text = path.read_bytes().decode("latin-1")  # GroupLens ships these files in Latin-1
    if len(sep) > 1:
        # '::' is a two-character separator; pandas' C parser takes one character, so swap it
        # for a tab (absent from the files) instead of falling back to the slow Python parser
        text = text.replace(sep, "\t")
        sep = "\t"
    frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, quoting=csv.QUOTE_NONE, dtype=str)
    if frame.shape[1] < len(names):
        raise ValueError(f"{path}: expected {len(names)} fields per line ({', '.join(names)}), got {frame.shape[1]}")
    frame = frame.iloc[:, : len(names)]
    frame.columns = names
    return frame


def _age_group(years: pd.Series) -> np.ndarray:
    # codes of AGE_GROUPS: the last group whose lower bound is <= age (under 18 -> 0)
    return np.maximum(np.searchsorted(np.array(AGE_GROUPS), years.to_numpy(np.int64), side="right") - 1, 0)


def _gender(values: pd.Series, path: Path) -> np.ndarray:
    codes = values.map(GENDER_CODES)
    if codes.isna().any():
        bad = sorted(set(values[codes.isna()]))[:5]
        raise ValueError(f"{path}: unknown gender value(s) {bad}; expected F or M")
    return codes.to_numpy(np.int64)


def _assemble(ratings: pd.DataFrame, users: pd.DataFrame, movie_genre: pd.Series, min_rating, source: str):
    ratings = ratings.astype({"user": np.int64, "movie": np.int64, "rating": float, "timestamp": np.int64})
    if min_rating is not None:
        ratings = ratings[ratings["rating"] >= min_rating]
        if ratings.empty:
            raise ValueError(f"{source}: no rating is >= min_rating={min_rating}")
    users = users.set_index("user")
    missing_users = sorted(set(ratings["user"]) - set(users.index))
    if missing_users:
        raise ValueError(f"{source}: user id(s) {missing_users[:5]} rated movies but are not in the users file")
    prof = users.loc[ratings["user"].to_numpy()]
    cate = movie_genre.reindex(ratings["movie"].to_numpy())
    if cate.isna().any():
        bad = sorted(set(ratings["movie"].to_numpy()[cate.isna().to_numpy()]))[:5]
        raise ValueError(f"{source}: movie id(s) {bad} were rated but are not in the movies file")
    frame = pd.DataFrame(
        {
            "user_id": encode_sorted(ratings["user"].to_numpy())[0],
            "item_id": encode_sorted(ratings["movie"].to_numpy())[0],
            "cate_id": cate.to_numpy(np.int64),
            "timestamp": ratings["timestamp"].to_numpy(),
            "gender": prof["gender"].to_numpy(np.int64),
            "age": prof["age"].to_numpy(np.int64),
            "occupation": prof["occupation"].to_numpy(np.int64),
            "zip": encode_sorted(prof["zip"].to_numpy())[0],
        }
    )
    return to_schema(frame, source=source)


def _first_genre_code(genres: str, path: Path) -> int:
    first = genres.split("|")[0]
    try:
        return GENRES.index(first)
    except ValueError:
        raise ValueError(f"{path}: unknown genre {first!r}; known genres are {list(GENRES)}") from None


def load_movielens_1m(path: str | Path, min_rating: float | None = None) -> pd.DataFrame:
    """Load MovieLens-1M (``ratings.dat``, ``users.dat``, ``movies.dat`` in ``path``) into the seed's schema.

    See the module docstring for the codes. Taught in notebooks/01_data_preparation.ipynb.
    """
    path = Path(path)
    ratings = _read_table(path / "ratings.dat", "::", ["user", "movie", "rating", "timestamp"])
    users = _read_table(path / "users.dat", "::", ["user", "gender", "age", "occupation", "zip"])
    movies = _read_table(path / "movies.dat", "::", ["movie", "title", "genres"])
    users = pd.DataFrame(
        {
            "user": users["user"].astype(np.int64),
            "gender": _gender(users["gender"], path / "users.dat"),
            "age": _age_group(users["age"].astype(np.int64)),
            "occupation": users["occupation"].astype(np.int64),
            "zip": users["zip"].astype(str),
        }
    )
    genre = pd.Series(
        [_first_genre_code(g, path / "movies.dat") for g in movies["genres"].fillna("unknown")],
        index=movies["movie"].astype(np.int64),
    )
    return _assemble(ratings, users, genre, min_rating, source=str(path))


def load_movielens_100k(path: str | Path, min_rating: float | None = None) -> pd.DataFrame:
    """Load MovieLens-100K (``u.data``, ``u.user``, ``u.item`` in ``path``) into the seed's schema.

    A movie's category is its first set genre flag in ``u.item`` (``unknown`` if none is set).
    Ages in years are mapped to MovieLens-1M's groups. Taught in notebooks/01_data_preparation.ipynb.
    """
    path = Path(path)
    ratings = _read_table(path / "u.data", "\t", ["user", "movie", "rating", "timestamp"])
    users = _read_table(path / "u.user", "|", ["user", "age", "gender", "occupation", "zip"])
    items = _read_table(path / "u.item", "|", ["movie", "title", "release", "video_release", "url", *GENRES])
    users = pd.DataFrame(
        {
            "user": users["user"].astype(np.int64),
            "gender": _gender(users["gender"], path / "u.user"),
            "age": _age_group(users["age"].astype(np.int64)),
            "occupation": encode_sorted(users["occupation"])[0],
            "zip": users["zip"].astype(str),
        }
    )
    flags = items[list(GENRES)].astype(np.int64).to_numpy()
    # argmax finds the first set flag; a row with none set gets 0, which is "unknown"
    genre = pd.Series(flags.argmax(axis=1), index=items["movie"].astype(np.int64))
    return _assemble(ratings, users, genre, min_rating, source=str(path))
