"""Real-data loaders on small fixture files written in each source's real format."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from din_tutorial.datasets import (
    MISSING_PROFILE_CODE,
    SCHEMA,
    detect_format,
    load_amazon_electronics,
    load_dataset,
    load_movielens_1m,
    load_movielens_100k,
    load_rechub_csv,
    read_json_lines,
)
from din_tutorial.data import tie_key
from din_tutorial.datasets.movielens import GENRES

# ---- Amazon Electronics --------------------------------------------------------------------------

REVIEWS = [  # (reviewerID, asin, unixReviewTime), the 5-core file's fields (plus noise fields)
    ("B_USER", "0528881469", 1370131200),
    ("A_USER", "B00000J1V5", 1400000000),
    ("A_USER", "0528881469", 1300000000),
    ("A_USER", "ZZNOMETA01", 1350000000),
    ("B_USER", "B00000J1V5", 1360000000),
]
META = [
    {
        "asin": "0528881469",
        "title": "Rand McNally 528881469 7-inch Portable GPS",
        "categories": [["Electronics", "GPS & Navigation", "Vehicle GPS", "Trucking GPS"], ["Electronics", "Car GPS"]],
    },
    {"asin": "B00000J1V5", "categories": [["Electronics", "Camera & Photo", "Film Cameras"]], "price": 12.5},
    {"asin": "B_NOT_REVIEWED", "categories": [["Electronics", "Aaa first alphabetically"]]},
]


def _review_records():
    return [
        {"reviewerID": u, "asin": a, "reviewerName": "J. Doe", "helpful": [0, 0], "reviewText": "It's great, isn't it?",
         "overall": 5.0, "summary": "ok", "unixReviewTime": t, "reviewTime": "06 2, 2013"}
        for u, a, t in REVIEWS
    ]  # fmt: skip


def _write_lines(path, records, loose: bool, gz: bool):
    # loose: the 2014 dumps' python dict literals (single quotes); strict: JSON lines
    text = "\n".join(repr(r) if loose else json.dumps(r) for r in records) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")


FORMATS = {"loose-gz": (True, True), "loose": (True, False), "strict-gz": (False, True), "strict": (False, False)}


@pytest.fixture(params=list(FORMATS.values()), ids=list(FORMATS))
def amazon_dir(tmp_path, request):
    loose, gz = request.param
    suffix = ".gz" if gz else ""
    _write_lines(tmp_path / f"reviews_Electronics_5.json{suffix}", _review_records(), loose, gz)
    _write_lines(tmp_path / f"meta_Electronics.json{suffix}", META, loose, gz)
    return tmp_path


def test_read_json_lines_accepts_python_literals_and_json(tmp_path):
    (tmp_path / "a.json").write_text("{'a': 1, 'b': [['x', 'y']]}\n\n{\"a\": 2, \"b\": null}\n")
    assert list(read_json_lines(tmp_path / "a.json")) == [{"a": 1, "b": [["x", "y"]]}, {"a": 2, "b": None}]


def test_read_json_lines_names_the_bad_line(tmp_path):
    (tmp_path / "bad.json").write_text('{"a": 1}\nnot a record\n')
    with pytest.raises(ValueError, match=r"bad\.json, line 2"):
        list(read_json_lines(tmp_path / "bad.json"))


def test_amazon_loader(amazon_dir):
    frame = load_amazon_electronics(amazon_dir)
    assert list(frame.columns) == list(SCHEMA) and (frame.dtypes == np.int64).all()
    # users and items encoded in sorted order of their raw ids
    assert frame["user_id"].tolist() == [0, 0, 0, 1, 1]  # A_USER, then B_USER
    assert frame["timestamp"].tolist() == [1300000000, 1350000000, 1400000000, 1360000000, 1370131200]
    item_of = {"0528881469": 0, "B00000J1V5": 1, "ZZNOMETA01": 2}
    a_user, b_user = ("0528881469", "ZZNOMETA01", "B00000J1V5"), ("B00000J1V5", "0528881469")  # in time order
    assert frame["item_id"].tolist() == [item_of[a] for a in a_user + b_user]
    # category: the last label of the LAST path; sorted codes; "no metadata" gets the last code
    cate = dict(zip(frame["item_id"], frame["cate_id"], strict=True))
    assert cate[0] == 0  # "Car GPS" < "Film Cameras"
    assert cate[1] == 1  # "Film Cameras"
    assert cate[2] == 2  # unknown, after the real categories
    assert (frame[["gender", "age", "occupation", "zip"]] == MISSING_PROFILE_CODE).all().all()
    assert detect_format(amazon_dir) == "amazon"
    pd.testing.assert_frame_equal(load_dataset(amazon_dir), frame)


def test_amazon_loader_with_file_paths(tmp_path):
    _write_lines(tmp_path / "reviews_Electronics_5.json", _review_records(), loose=False, gz=False)
    _write_lines(tmp_path / "elsewhere.json.gz", META, loose=True, gz=True)
    frame = load_amazon_electronics(tmp_path / "reviews_Electronics_5.json", meta_path=tmp_path / "elsewhere.json.gz")
    assert len(frame) == len(REVIEWS)


def test_amazon_errors_name_what_is_missing(tmp_path):
    _write_lines(tmp_path / "reviews_Electronics_5.json", _review_records(), loose=False, gz=False)
    with pytest.raises(FileNotFoundError, match="meta_Electronics.json"):
        load_amazon_electronics(tmp_path)
    _write_lines(tmp_path / "meta_Electronics.json", META, loose=False, gz=False)
    records = _review_records()
    del records[2]["unixReviewTime"]
    _write_lines(tmp_path / "reviews_Electronics_5.json", records, loose=False, gz=False)
    with pytest.raises(ValueError, match="unixReviewTime"):
        load_amazon_electronics(tmp_path)


# ---- torch-rechub's CSV --------------------------------------------------------------------------


def test_rechub_csv(tmp_path):
    path = tmp_path / "amazon_electronics_sample.csv"
    path.write_text("user_id,item_id,time,cate_id\n0,13179,1400457600,584\n0,0,1400457600,339\n1,58134,1379548800,611\n")
    frame = load_rechub_csv(path)
    assert list(frame.columns) == list(SCHEMA) and (frame.dtypes == np.int64).all()
    tied = sorted([0, 13179], key=lambda i: int(tie_key(0, i)))  # user 0's tie, in the samples' order
    assert frame["item_id"].tolist() == [*tied, 58134]  # ids kept
    assert (frame["zip"] == 0).all()
    assert detect_format(path) == "rechub_csv"
    pd.testing.assert_frame_equal(load_dataset(path), frame)


def test_rechub_csv_missing_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("user_id,item_id,cate_id\n0,1,2\n")
    with pytest.raises(ValueError, match="time"):
        load_rechub_csv(path)


# ---- a CSV already in the seed's schema ----------------------------------------------------------


def test_seed_schema_csv_and_its_errors(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,cate_id,timestamp,gender,age,occupation,zip,extra\n1,2,3,4,0,1,2,3,x\n0,5,6,7,1,0,0,0,y\n")
    frame = load_dataset(path)
    assert frame["user_id"].tolist() == [0, 1] and list(frame.columns) == list(SCHEMA)
    path.write_text("user_id,item_id,timestamp,gender,age,occupation,zip\n1,2,4,0,1,2,3\n")
    with pytest.raises(ValueError, match="cate_id"):
        load_dataset(path)
    with pytest.raises(ValueError, match="cate_id"):
        load_dataset(path, format="csv")
    path.write_text("user_id,item_id,cate_id,timestamp,gender,age,occupation,zip\n1,-2,3,4,0,1,2,3\n")
    with pytest.raises(ValueError, match="item_id"):
        load_dataset(path)


# ---- MovieLens -----------------------------------------------------------------------------------

ML1M_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n6040::3::2::956703932\n"
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n6040::M::25::6::11106-1234\n"
ML1M_MOVIES = (
    "3::Grumpier Old Men (1995)::Comedy|Romance\n"
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "2000::Caf\u00e9 Society (1999)::Drama\n"
)


@pytest.fixture
def ml1m_dir(tmp_path):
    for name, text in (("ratings.dat", ML1M_RATINGS), ("users.dat", ML1M_USERS), ("movies.dat", ML1M_MOVIES)):
        (tmp_path / name).write_bytes(text.encode("latin-1"))
    return tmp_path


def test_movielens_1m(ml1m_dir):
    frame = load_movielens_1m(ml1m_dir)
    assert list(frame.columns) == list(SCHEMA) and (frame.dtypes == np.int64).all()
    assert frame["user_id"].tolist() == [0, 0, 1, 2]
    assert frame["item_id"].tolist() == [2, 1, 2, 0]  # movies 3, 661, 1193 -> 0, 1, 2
    assert frame["cate_id"].tolist() == [GENRES.index("Drama"), GENRES.index("Animation"), GENRES.index("Drama"),
                                         GENRES.index("Comedy")]  # fmt: skip
    assert frame["gender"].tolist() == [0, 0, 1, 1]
    assert frame["age"].tolist() == [0, 0, 6, 2]  # groups 1, 56, 25
    assert frame["occupation"].tolist() == [10, 10, 16, 6]
    assert frame["zip"].tolist() == [1, 1, 2, 0]  # sorted codes: "11106-1234" < "48067" < "70072"
    assert detect_format(ml1m_dir) == "ml-1m"
    pd.testing.assert_frame_equal(load_dataset(ml1m_dir), frame)
    liked = load_dataset(ml1m_dir, min_rating=4)
    assert len(liked) == 2 and liked["user_id"].tolist() == [0, 1] and liked["item_id"].tolist() == [0, 0]


def test_movielens_1m_missing_file_is_named(ml1m_dir):
    (ml1m_dir / "users.dat").unlink()
    with pytest.raises(FileNotFoundError, match="users.dat"):
        load_movielens_1m(ml1m_dir)


ML100K_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n"
ML100K_USER = "186|39|F|executive|00000\n196|49|M|writer|55105\n"


def _ml100k_item(movie, title, flags):
    bits = ["1" if g in flags else "0" for g in GENRES]
    return "|".join([str(movie), title, "01-Jan-1997", "", "http://us.imdb.com/x", *bits])


@pytest.fixture
def ml100k_dir(tmp_path):
    items = "\n".join([
        _ml100k_item(242, "Kolya (1996)", {"Comedy"}),
        _ml100k_item(302, "L.A. Confidential (1997)", {"Crime", "Film-Noir", "Mystery", "Thriller"}),
        _ml100k_item(267, "unknown", set()),
    ]) + "\n"  # fmt: skip
    (tmp_path / "u.data").write_bytes(ML100K_DATA.encode("latin-1"))
    (tmp_path / "u.user").write_bytes(ML100K_USER.encode("latin-1"))
    (tmp_path / "u.item").write_bytes(items.encode("latin-1"))
    return tmp_path


def test_movielens_100k(ml100k_dir):
    frame = load_movielens_100k(ml100k_dir)
    assert list(frame.columns) == list(SCHEMA) and (frame.dtypes == np.int64).all()
    assert frame["user_id"].tolist() == [0, 1, 1]  # users 186, 196
    assert frame["item_id"].tolist() == [1, 0, 1]  # movies 242, 302
    assert frame["cate_id"].tolist() == [GENRES.index("Crime"), GENRES.index("Comedy"), GENRES.index("Crime")]
    assert frame["gender"].tolist() == [0, 1, 1]
    assert frame["age"].tolist() == [3, 4, 4]  # 39 -> 35-44, 49 -> 45-49
    assert frame["occupation"].tolist() == [0, 1, 1]  # executive < writer
    assert detect_format(ml100k_dir) == "ml-100k"
    assert len(load_dataset(ml100k_dir, min_rating=4)) == 1


def test_movielens_100k_missing_file_is_named(ml100k_dir):
    (ml100k_dir / "u.item").unlink()
    with pytest.raises(FileNotFoundError, match="u.item"):
        load_dataset(ml100k_dir)


# ---- dispatch errors -----------------------------------------------------------------------------


def test_load_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-file.csv"):
        load_dataset(tmp_path / "no-such-file.csv")
    with pytest.raises(ValueError, match="unknown format"):
        load_dataset(tmp_path, format="parquet")
    with pytest.raises(ValueError, match="ratings.dat"):
        load_dataset(tmp_path)  # an empty folder: says what it looked for
