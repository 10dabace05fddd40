"""From an interaction log to batches: the sorted log, the samples, negatives, loaders.

``generate_seq_feature`` turns a log (one row per user behaviour) into DIN's samples: for
each behaviour, the user's earlier behaviours are the history and the behaviour itself is
the positive target; sampled items the user never touched are negatives. ``df_to_dict``
turns the frames into dicts of arrays, ``TensorBatchLoader`` (and ``DataGenerator``) batches.

Everything is vectorised with NumPy (no Python loop over users or rows): a log of a million
interactions is prepared in seconds. Taught in notebooks/01_data_preparation.ipynb, which
shows the same steps on one user's timeline and that the fast version gives the same samples.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .features import PAD_ID

__all__ = [
    "generate_seq_feature", "df_to_dict", "DataGenerator", "PAD_ID", "DataPreparationWarning",  # the seed's API
    "validate_log", "check_labels", "id_vocabulary", "to_codes", "encode_ids",
    "sort_log", "SortedLog", "tie_key", "splitmix64", "user_level_values", "draw_samples", "history_window", "SPLITS",
    "BatchedSamples", "TensorSamples", "TensorBatchLoader", "ShardSampler", "ShardedLoader", "check_shard", "shard_indices",
]

NEG_SAMPLING = ("uniform", "popularity")
SPLITS = ("train", "val", "test")


class DataPreparationWarning(UserWarning):
    """Rows or users that ``generate_seq_feature`` had to leave out, with their count."""


# ---------------------------------------------------------------------------- validation
def _as_id_array(data: pd.DataFrame, col: str) -> np.ndarray:
    """Return ``data[col]`` as int64 ids, or raise an error that names the column and the fix."""
    s = data[col]
    if s.isna().any():
        raise ValueError(
            f"column {col!r} has {int(s.isna().sum())} missing value(s) (NaN); ids must be complete: "
            f"drop those rows (data.dropna(subset=[{col!r}])) or give them an id of their own"
        )
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        raise ValueError(
            f"column {col!r} must hold integer ids, got dtype {s.dtype}; "
            f"encode it first, e.g. data[{col!r}] = data[{col!r}].astype('category').cat.codes"
        )
    values = s.to_numpy()
    if not np.issubdtype(values.dtype, np.integer) and not np.all(np.mod(values, 1) == 0):
        raise ValueError(
            f"column {col!r} holds non-integer values (e.g. {values[np.mod(values, 1) != 0][0]!r}); "
            f"ids must be whole numbers: encode it with .astype('category').cat.codes"
        )
    ids = values.astype(np.int64, copy=False)
    if ids.size and ids.min() < 0:
        raise ValueError(
            f"column {col!r} has negative ids (min {ids.min()}); ids must be >= 0 "
            f"(the value {PAD_ID} is reserved for padding): re-encode with .astype('category').cat.codes"
        )
    return ids


def _nanoseconds(values) -> np.ndarray:
    """Datetimes (naive, or time-zone aware: UTC) as int64 nanoseconds since 1970-01-01, timedeltas as nanoseconds."""
    if isinstance(values, pd.Series) and getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    values = np.asarray(values)
    return values.astype(f"{values.dtype.name.split('[')[0]}[ns]").astype(np.int64)


def _as_time_array(data: pd.DataFrame, col: str) -> np.ndarray:
    """Return ``data[col]`` as a sortable array: int64 (integers, datetimes as nanoseconds) or float64."""
    s = data[col]
    if s.isna().any():
        raise ValueError(
            f"time column {col!r} has {int(s.isna().sum())} missing value(s); "
            f"every behaviour needs a time to be ordered: drop those rows or fill them"
        )
    if pd.api.types.is_datetime64_any_dtype(s):
        return _nanoseconds(s)
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        raise ValueError(
            f"time column {col!r} must be numeric (e.g. unix seconds) or datetime, got dtype {s.dtype}; "
            f"convert it with data[{col!r}] = pd.to_datetime(data[{col!r}])"
        )
    values = s.to_numpy()
    # Integers stay integers: float64 would merge distinct nanosecond stamps (above 2**53) into ties.
    return values.astype(np.int64 if np.issubdtype(values.dtype, np.integer) else np.float64, copy=False)


def _check_int(name: str, value, low: int = 0, meaning: str = "") -> int:
    """``value`` as an int, or an error naming ``name``, the bound and (optionally) what it means."""
    if isinstance(value, bool) or int(value) != value or value < low:
        meaning = f" ({meaning})" if meaning else ""
        raise ValueError(f"{name} must be an integer >= {low}{meaning}, got {value!r}")
    return int(value)


def check_labels(y, what: str = "y") -> np.ndarray:
    """Return ``y`` as an array after checking that every label is 0 or 1.

    A NaN, a 2 or a -1 would otherwise reach torch's binary cross-entropy (which fails on
    some and silently trains on others); the error names how many labels are bad and the
    first one's row. Taught in notebooks/01_data_preparation.ipynb.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one label per sample (a 1-d array), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":  # booleans, integers, floats
        raise ValueError(
            f"{what} must hold numeric labels 0 or 1, got dtype {arr.dtype}; "
            f"map them first, e.g. y = (y == 'click').astype(int)"
        )
    bad = ~((arr == 0) | (arr == 1))  # NaN compares unequal to both
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} has {int(bad.sum())} label(s) outside {{0, 1}} (first at row {first}: {arr[first].item()!r}); "
            f"labels must be 1 (clicked) or 0 (not clicked): drop or fix those rows, e.g. "
            f"keep = y.isin([0, 1])"
        )
    return arr


def validate_log(data, user_col: str, item_col: str, time_col: str, item_attribute_cols: Sequence[str] = ()) -> None:
    """Check that ``data`` is a non-empty frame holding the named columns (``sort_log`` checks their values).

    Taught in notebooks/01_data_preparation.ipynb.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}; load it with pd.read_csv(...)")
    if len(data) == 0:
        raise ValueError("data is empty (0 rows): there are no behaviours to build samples from")
    missing = [c for c in [user_col, item_col, time_col, *item_attribute_cols] if c not in data.columns]
    if missing:
        raise KeyError(
            f"column(s) {missing} not found in data; it has {list(data.columns)}. "
            f"Pass the right names with user_col=, item_col=, time_col= or item_attribute_cols="
        )


# ---------------------------------------------------------------------------- vocabularies
def id_vocabulary(ids) -> np.ndarray:
    """The distinct ids of ``ids``, most frequent first (equal counts: smaller id first).

    Entry ``c`` is the raw id whose code is ``c``: a table then needs one row per id the log
    holds, not one per number up to its largest raw id, and the rows a batch reads most sit
    together at its top. Taught in notebooks/01_data_preparation.ipynb.
    """
    values, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
    return values[np.lexsort((values, -counts))]


def to_codes(raw, vocabulary: np.ndarray) -> np.ndarray:
    """The codes of raw ids under ``vocabulary`` (from ``id_vocabulary``): ``vocabulary[code] == raw``.

    A raw id the vocabulary lacks (a new user or item at serving time) gets ``len(vocabulary)``,
    an id outside the table, which the embedding layer's serving rule sends to the zero row;
    ``PAD_ID`` stays ``PAD_ID``. Taught in notebooks/01_data_preparation.ipynb.
    """
    raw = np.asarray(raw, dtype=np.int64)
    vocabulary = np.asarray(vocabulary, dtype=np.int64)
    if vocabulary.size == 0:
        return np.where(raw == PAD_ID, PAD_ID, 0)
    order = np.argsort(vocabulary, kind="stable")
    pos = np.minimum(np.searchsorted(vocabulary[order], raw), len(order) - 1)
    codes = np.where(vocabulary[order[pos]] == raw, order[pos], len(vocabulary))
    return np.where(raw == PAD_ID, PAD_ID, codes)


def encode_ids(data: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A copy of ``data`` whose ``columns`` hold contiguous codes, and each column's vocabulary.

    ``vocabularies[col]`` is ``id_vocabulary``'s; ``to_codes`` maps new raw ids the same way. The
    encoded log's samples order ties and draw negatives by the codes; ``prepare_samples(...,
    encode=True)`` draws on the raw ids, then encodes. Taught in notebooks/01_data_preparation.ipynb.
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not found in data; it has {list(data.columns)}: pass existing id columns")
    out, vocabularies = data.copy(), {}
    for c in columns:
        ids = _as_id_array(data, c)
        vocabularies[c] = id_vocabulary(ids)
        out[c] = to_codes(ids, vocabularies[c])
    return out, vocabularies


# ---------------------------------------------------------------------------- the order of a log
_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x) -> np.ndarray:
    """SplitMix64's output function on each value of ``x``: a fixed, well-mixed bijection of 64-bit integers.

    Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014 (Java's
    ``SplittableRandom``, Vigna's xoshiro seeding). Plain integer arithmetic modulo 2**64: the same
    numbers on every machine and NumPy version, unlike NumPy's random streams.
    ``splitmix64(0) == 0xE220A8397B1DCDAF`` (SplitMix64's first output from seed 0).
    """
    with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the definition (scalars would warn)
        z = np.asarray(x).astype(np.uint64) + _GOLDEN_GAMMA  # int64 ids >= 0 keep their value
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def tie_key(users, items) -> np.ndarray:
    """The key that orders one user's behaviours at equal times: ``splitmix64(splitmix64(user) ^ item)``.

    For each user a fixed pseudo-random order of the items, unrelated to the item's id: ids
    follow popularity and age in real logs, and ordering ties by id would make the last (test)
    targets systematically the newer, rarer items. It depends on the values only, not the row
    order. For one user it is a bijection of the item (XOR with a constant and ``splitmix64``
    are), so a user's ties are totally ordered. Taught in notebooks/01_data_preparation.ipynb.
    """
    return splitmix64(splitmix64(users) ^ np.asarray(items).astype(np.uint64))


@dataclass
class SortedLog:
    """A log's id columns as ``sort_log`` sorts them, with each user's rows.

    Row ``i`` of every array is row ``order[i]`` of the input; the rows of user ``u`` (the ``u``-th
    smallest user id) are ``starts[u] .. starts[u] + counts[u] - 1``. Taught in notebooks/01_data_preparation.ipynb.
    """

    user_col: str
    item_col: str
    time_col: str
    users: np.ndarray  # (n,) int64, sorted
    items: np.ndarray  # (n,) int64
    times: np.ndarray  # (n,) int64 or float64, the time as ordered (datetimes in nanoseconds)
    attrs: dict[str, np.ndarray]  # item attribute columns, (n,) int64 each
    attr_of_item: dict[str, np.ndarray]  # attribute -> (n_items_key,) table, -1 where no item has the id
    order: np.ndarray  # (n,) int64 rows of the input
    starts: np.ndarray  # (n_users,) first row of each user
    counts: np.ndarray  # (n_users,) behaviours of each user

    @property
    def n_items_key(self) -> int:
        return int(self.items.max()) + 1

    @property
    def user_ids(self) -> np.ndarray:
        """The distinct user ids, one per user, ascending."""
        return self.users[self.starts]


def sort_log(data: pd.DataFrame, user_col: str = "user_id", item_col: str = "item_id",
             time_col: str = "timestamp", item_attribute_cols: Sequence[str] | None = ()) -> SortedLog:
    """Validate a log and sort it by (user, time, ``tie_key``): the one order every sample is cut from.

    Equal times are common (Amazon's review times are whole days). Each item attribute must
    have one value per item (the negatives take theirs from ``attr_of_item``).
    Taught in notebooks/01_data_preparation.ipynb.
    """
    item_attribute_cols = list(item_attribute_cols or ())
    validate_log(data, user_col, item_col, time_col, item_attribute_cols)
    users = _as_id_array(data, user_col)
    items = _as_id_array(data, item_col)
    times = _as_time_array(data, time_col)
    attrs = {c: _as_id_array(data, c) for c in item_attribute_cols}

    attr_of_item = {}
    for c, a in attrs.items():
        table = np.full(int(items.max()) + 1, -1, dtype=np.int64)
        table[items] = a
        conflict = table[items] != a
        if conflict.any():
            raise ValueError(
                f"item attribute {c!r} is not a function of {item_col!r}: {np.unique(items[conflict]).size} item(s) "
                f"have several values (e.g. item {int(items[conflict][0])}); keep one value per item, e.g. the most "
                f"frequent, or leave {c!r} out of item_attribute_cols"
            )
        attr_of_item[c] = table

    order = np.lexsort((tie_key(users, items), times, users))
    users, items, times = users[order], items[order], times[order]
    attrs = {c: a[order] for c, a in attrs.items()}
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    return SortedLog(user_col, item_col, time_col, users, items, times, attrs, attr_of_item, order, starts, counts)


def user_level_values(data: pd.DataFrame, log: SortedLog, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The columns of ``data`` that are constant within every user, one value per user (``log.user_ids``' order).

    ``columns=None`` looks at every column that is not the user, item, time, an item
    attribute, ``label``, ``hist_len`` or a ``hist_*`` column; a column that varies within
    a user (e.g. a rating) is left out. Taught in notebooks/01_data_preparation.ipynb.
    """
    reserved = {log.user_col, log.item_col, log.time_col, *log.attrs, "label", "hist_len"}
    if columns is None:
        columns = [c for c in data.columns if c not in reserved and not str(c).startswith("hist_")]
    same_user = log.users[1:] == log.users[:-1]  # (n - 1,) consecutive sorted rows of one user
    out = {}
    for c in columns:
        v = data[c].to_numpy()[log.order]
        # floats with NaN, strings, mixed: compare factorized codes (NaN is one code)
        codes = v if v.dtype.kind in "biuMm" else pd.factorize(v, use_na_sentinel=False)[0]
        if not ((codes[1:] != codes[:-1]) & same_user).any():
            out[c] = v[log.starts]
    return out


# ---------------------------------------------------------------------------- samples
def history_window(column: np.ndarray, start, hist_len: np.ndarray, max_len: int) -> np.ndarray:
    """Histories as a ``(n_samples, max_len)`` int64 matrix: oldest first, real steps then ``PAD_ID``.

    ``column`` is a sorted log's column followed by ``max_len`` ``PAD_ID``s; a sample with
    ``hist_len = h`` starting at sorted row ``start`` reads the ``max_len``-row window from
    ``start`` (a row gather: several times faster than single elements) and pads its steps from
    ``h`` on (its target and later rows). Taught in notebooks/01_data_preparation.ipynb.
    """
    out = np.lib.stride_tricks.sliding_window_view(column, max_len)[start].astype(np.int64, copy=False)
    np.putmask(out, np.arange(max_len) >= np.asarray(hist_len)[:, None], PAD_ID)
    return out


def _sample_negatives(rng: np.random.Generator, sample_user: np.ndarray, n_neg: int, user_item_keys: np.ndarray,
                      item_pool: np.ndarray, item_weights: np.ndarray | None, n_items_key: int) -> np.ndarray:
    """Draw ``n_neg`` items per sample among items its user never interacted with.

    ``user_item_keys`` is the sorted array of ``user * n_items_key + item`` the users touched.
    """
    users = np.repeat(sample_user, n_neg)
    neg = np.empty(len(users), dtype=np.int64)
    todo = np.arange(len(users))
    for _ in range(20):  # vectorised rejection: redraw only the draws that hit one of the user's items
        if todo.size == 0:
            return neg
        draw = item_pool[rng.choice(len(item_pool), size=todo.size, p=item_weights)]
        neg[todo] = draw
        keys = users[todo] * n_items_key + draw
        pos = np.searchsorted(user_item_keys, keys)
        pos[pos >= len(user_item_keys)] = 0
        todo = todo[user_item_keys[pos] == keys]
    # The few left belong to users who touched most items: draw from their complement directly.
    for i in todo:
        lo, hi = np.searchsorted(user_item_keys, [users[i] * n_items_key, (users[i] + 1) * n_items_key])
        free = ~np.isin(item_pool, user_item_keys[lo:hi] - users[i] * n_items_key)
        p = None if item_weights is None else item_weights[free] / item_weights[free].sum()
        neg[i] = rng.choice(item_pool[free], p=p)
    return neg


def draw_samples(log: SortedLog, min_item: int = 0, shuffle: bool = True, max_len: int = 50, neg_ratio: int = 1,
                 neg_sampling: str = "uniform", seed: int = 2022, stacklevel: int = 2) -> dict[str, np.ndarray]:
    """The samples of ``generate_seq_feature`` (which documents the rules) as rows of the sorted log.

    Returns int64 arrays named as the lean samples store them, for each split ``s`` of
    ``SPLITS``: ``s.user`` (the sample's user, an index into ``log.user_ids``), ``s.target``
    (the item), ``s.label`` (1 positive, 0 negative), ``s.start`` and ``s.len`` (its history is
    the sorted rows ``start .. start + len - 1``; a positive's target is row ``start + len``,
    and its negatives share that row). ``stacklevel`` places the warning about dropped users
    at the caller's line. Taught in notebooks/01_data_preparation.ipynb.
    """
    max_len = _check_int("max_len", max_len, 1, "the history length kept")
    neg_ratio = _check_int("neg_ratio", neg_ratio, 0, "negatives per positive")
    min_item = _check_int("min_item", min_item, 0)
    if neg_sampling not in NEG_SAMPLING:
        raise ValueError(f"neg_sampling must be one of {NEG_SAMPLING}, got {neg_sampling!r}")
    rng = np.random.default_rng(seed)
    users, items, starts, counts = log.users, log.items, log.starts, log.counts
    n_items_key = log.n_items_key

    keep_user = counts >= max(min_item, 2)
    n_small = int((~keep_user).sum())
    if n_small:
        warnings.warn(
            f"{n_small} user(s) with fewer than {max(min_item, 2)} behaviours were dropped "
            f"({int(counts[~keep_user].sum())} rows); "
            + ("lower min_item to keep users with few behaviours" if min_item > 2
               else "a sample needs at least one earlier behaviour as its history"),
            DataPreparationWarning, stacklevel=stacklevel + 1)

    # Positions t = 0, 1, ... within each user and the split of each row: -1 none, 0 train, 1 val, 2 test.
    pos_in_user = np.arange(len(users)) - np.repeat(starts, counts)
    from_end = np.repeat(starts + counts, counts) - np.arange(len(users))  # 1 for a user's last row
    split = np.where(np.repeat(keep_user, counts) & (pos_in_user >= 1),
                     np.where(from_end == 1, 2, np.where(from_end == 2, 1, 0)), -1).astype(np.int8)
    del from_end

    # Negatives need the set of (user, item) pairs each user touched.
    user_item_keys = np.unique(users * n_items_key + items)
    item_pool, item_freq = np.unique(items, return_counts=True)
    weights = item_freq / item_freq.sum() if neg_sampling == "popularity" else None
    if neg_ratio:
        distinct = np.bincount(np.searchsorted(log.user_ids, user_item_keys // n_items_key))
        full = log.user_ids[distinct >= len(item_pool)]
        if full.size:
            raise ValueError(
                f"{full.size} user(s) (e.g. user {int(full[0])}) interacted with every item of the log "
                f"({len(item_pool)} items), so no negative can be drawn for them; drop those users or pass neg_ratio=0"
            )

    out = {}
    for split_id, name in enumerate(SPLITS):
        pos = np.flatnonzero(split == split_id)  # positive targets: rows of the sorted log
        row, target = pos, items[pos]
        if neg_ratio:  # negative k of positive i follows it, at i * (1 + r) + 1 + k, sharing its row (history)
            negatives = _sample_negatives(rng, users[pos], neg_ratio, user_item_keys, item_pool, weights, n_items_key)
            row = np.repeat(pos, 1 + neg_ratio)
            target = np.concatenate([target[:, None], negatives.reshape(len(pos), neg_ratio)], axis=1).ravel()
            del negatives
        label = (np.arange(len(row)) % (1 + neg_ratio) == 0).astype(np.int64)  # 1 for the positives
        if name == "train" and shuffle:
            perm = rng.permutation(len(row))
            row, target, label = row[perm], target[perm], label[perm]
            del perm
        hist_len = np.minimum(pos_in_user[row], max_len)
        fields = {"user": np.searchsorted(starts, row, side="right") - 1, "target": target, "label": label,
                  "start": row - hist_len, "len": hist_len}
        out.update({f"{name}.{k}": v for k, v in fields.items()})
    return out


def generate_seq_feature(data: pd.DataFrame, user_col: str = "user_id", item_col: str = "item_id",
                         time_col: str = "timestamp", item_attribute_cols: Sequence[str] | None = None,
                         min_item: int = 0, shuffle: bool = True, max_len: int = 50, neg_ratio: int = 1,
                         neg_sampling: str = "uniform", seed: int = 2022) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build DIN's train, validation and test samples from an interaction log.

    Each user's behaviours are ordered by time, ties by ``tie_key`` (``sort_log``), so shuffling
    the log's rows gives the same samples. The behaviour at position ``t >= 1`` is a positive
    target whose history is the most recent ``max_len`` behaviours before it; no history holds
    its target or anything after it. Leave-one-out by time, as the paper: the last behaviour is
    the test target, the second-to-last the validation target, the earlier ones are training
    targets. Each positive gets ``neg_ratio`` negatives that share its history: items the user
    never interacted with, drawn uniformly (the paper's code) or in proportion to popularity
    (``neg_sampling="popularity"``, a harder task), with their own attributes.

    Ids are never re-encoded or shifted: vocabularies sized ``data[col].max() + 1`` are
    enough. Histories (``hist_<item_col>``, ``hist_<attr>``) are int64 arrays of length
    ``max_len``, oldest first, padded at the end with ``PAD_ID`` (-1). The frames are views of
    the lean samples (``LeanSamples.gather``; ``build_samples`` for logs too big for frames).

    Args:
        data: the log, one row per behaviour.
        user_col, item_col, time_col: the columns that hold the user, the item and the time
            (numeric, e.g. unix seconds, or datetime).
        item_attribute_cols: item-level columns (e.g. ``["cate_id"]``) that get a history
            column too; each item must have one value.
        min_item: users with fewer behaviours are dropped (the count is reported in a
            warning). Users with a single behaviour are always dropped (no history to learn
            from); users with 2 get only a test sample, with 3 a validation and a test one.
        shuffle: shuffle the training rows (validation and test stay ordered by user).
        max_len: the most recent behaviours kept in each history.
        neg_ratio: negatives per positive (0 for positives only).
        neg_sampling: "uniform" or "popularity".
        seed: seeds the negative sampling and the shuffle.

    Returns:
        ``(train, val, test)`` frames with the user column, the target item and its
        attributes under their input names, the history columns, ``hist_len``, the target's
        time, ``label`` (1 positive, 0 negative) and every user-level column of ``data``
        (constant per user, e.g. gender or age: ``user_level_values``).
    """
    from .samples import _assemble  # din_tutorial.samples builds on this module

    log = sort_log(data, user_col, item_col, time_col, item_attribute_cols)
    lean = _assemble(log, {}, encode=False, stacklevel=2, min_item=min_item, shuffle=shuffle, max_len=max_len,
                     neg_ratio=neg_ratio, neg_sampling=neg_sampling, seed=seed)
    user_level = user_level_values(data, log)
    sorted_times = data[time_col].to_numpy()[log.order]  # the time as given (not converted)
    frames = []
    for split in SPLITS:
        # histories as one int64 array per row (df_to_dict stacks them back)
        cols = {k: list(v) if v.ndim == 2 else v for k, v in lean.gather(split, slice(None)).items()}
        cols[time_col] = sorted_times[np.asarray(lean.arrays[f"{split}.start"], dtype=np.int64) + cols["hist_len"]]
        user = np.asarray(lean.arrays[f"{split}.user"])
        cols.update({c: v[user] for c, v in user_level.items()})
        cols["label"] = lean.labels(split).astype(np.int64)
        frames.append(pd.DataFrame(cols))
    return frames[0], frames[1], frames[2]


# ---------------------------------------------------------------------------- dicts and loaders
def df_to_dict(data: pd.DataFrame) -> dict[str, np.ndarray]:
    """Turn a frame into ``{column: array}``; history columns become ``(n, seq_len)`` int64 matrices.

    Datetime and timedelta columns (e.g. the target time of a log timed by datetimes) become
    int64 nanoseconds (``_nanoseconds``): a tensor holds numbers, and these are the numbers
    ``generate_seq_feature`` orders behaviours by. Taught in notebooks/01_data_preparation.ipynb.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"df_to_dict expects a pandas DataFrame, got {type(data).__name__}")
    out = {}
    for col in data.columns:
        s = data[col]
        if s.dtype == object and len(s) and isinstance(s.iloc[0], (np.ndarray, list, tuple)):  # sequences
            values = s.to_numpy()
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
            if (lengths != lengths[0]).any():
                raise ValueError(
                    f"column {col!r} holds sequences of different lengths {np.unique(lengths)[:5].tolist()}; "
                    f"pad them to one length with PAD_ID ({PAD_ID}), as generate_seq_feature does"
                )
            # One concatenation then a reshape: several times faster than np.stack on many small rows.
            out[col] = np.concatenate(values).astype(np.int64, copy=False).reshape(len(values), int(lengths[0]))
        elif pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            out[col] = _nanoseconds(s)
        else:
            out[col] = s.to_numpy()
    return out


def _to_tensor(key: str, value) -> torch.Tensor:
    """A batch input as a tensor: int64 for ids, float32 for floats and booleans, times as nanoseconds."""
    if isinstance(value, torch.Tensor):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind in "mM":
        arr = _nanoseconds(arr)  # as df_to_dict does
    if arr.dtype.kind in "biuf":  # booleans become float32, as floats do
        out = np.ascontiguousarray(arr, dtype=np.int64 if arr.dtype.kind in "iu" else np.float32)
        if not out.flags.writeable:  # read-only views (pandas' copy-on-write, memory maps): torch wants its own
            out = out.copy()
        return torch.from_numpy(out)
    raise TypeError(
        f"input {key!r} has dtype {arr.dtype}, which cannot become a tensor; "
        f"encode it as integer ids or floats, or drop it from the dict"
    )


def _n_rows(x: Mapping[str, object], y=None) -> int:
    """The number of samples of the inputs ``x`` (and labels ``y``), checked to be the same for all."""
    if not x:
        raise ValueError("x is empty: pass a dict of input columns, e.g. df_to_dict(train)")
    sizes = {k: len(v) for k, v in x.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"inputs have different numbers of rows: {sizes}; every column needs one value per sample")
    n = next(iter(sizes.values()))
    if y is not None and len(y) != n:
        raise ValueError(f"y has {len(y)} labels but x has {n} rows; they must match")
    return n


def check_shard(n_total: int, rank: int, world_size: int, what: str = "split") -> tuple[int, int]:
    """Validate ``rank`` and ``world_size`` for ``n_total`` samples, as ints (notebooks/09_scaling_out.ipynb)."""
    world_size = _check_int("world_size", world_size, 1)
    rank = _check_int("rank", rank, 0)
    if rank >= world_size:
        raise ValueError(f"rank must be in 0 .. world_size - 1 = {world_size - 1}, got rank={rank}")
    if world_size > 1 and n_total < world_size:
        raise ValueError(
            f"the {what} has {n_total} sample(s), fewer than world_size={world_size} processes, so some rank "
            f"would get none; run fewer processes (torchrun --nproc_per_node=...) or use a bigger log"
        )
    return rank, world_size


def shard_indices(n_total: int, rank: int = 0, world_size: int = 1, shuffle: bool = False,
                  seed: int = 2022, epoch: int = 0) -> np.ndarray | slice:
    """The samples one rank reads in one epoch: the index arithmetic every loader shares.

    With ``shuffle`` (training), an int64 array: all ranks draw the same permutation of
    ``range(n_total)``, a function of ``(seed, epoch)`` only (``SeedSequence([seed, epoch])``),
    pad it by wrapping to a multiple of ``world_size`` and take ``perm[rank::world_size]``, as
    ``DistributedSampler`` does: equal shard sizes (every rank runs the same number of steps),
    disjoint up to the at most ``world_size - 1`` repeated samples. Without ``shuffle``
    (evaluation), a slice: the ``rank``-th contiguous block of ``np.array_split``, no padding,
    so the ranks' outputs in rank order are the split's order. Taught in notebooks/09_scaling_out.ipynb.
    """
    n_total = _check_int("n_total", n_total, 0)
    rank, world_size = check_shard(n_total, rank, world_size)
    if not shuffle:
        base, extra = divmod(n_total, world_size)
        lo = rank * base + min(rank, extra)
        return slice(lo, lo + base + (rank < extra))
    seed, epoch = _check_int("seed", seed, 0), _check_int("epoch", epoch, 0)
    perm = np.random.default_rng(np.random.SeedSequence([seed, epoch])).permutation(n_total)
    pad = -n_total % world_size
    if pad:
        perm = np.concatenate([perm, perm[:pad]])  # pad < world_size <= n_total: one wrap is enough
    return perm[rank::world_size]


class ShardSampler(DistributedSampler):
    """A ``DistributedSampler`` whose order is ``shard_indices(n, rank, world_size, shuffle, seed, epoch)``.

    (NumPy's permutation, not torch's: the batches of earlier versions of this package.)
    Taught in notebooks/09_scaling_out.ipynb.
    """

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 2022):
        what = f"{dataset.split} split" if isinstance(getattr(dataset, "split", None), str) else "split"
        rank, num_replicas = check_shard(len(dataset), rank, num_replicas, what)
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=bool(shuffle),
                         seed=_check_int("seed", seed, 0))
        if not self.shuffle:
            block = self._indices()
            self.num_samples = block.stop - block.start

    def _indices(self):
        return shard_indices(len(self.dataset), self.rank, self.num_replicas, self.shuffle, self.seed, self.epoch)

    def __iter__(self):
        idx = self._indices()
        return iter(range(idx.start, idx.stop) if isinstance(idx, slice) else idx.tolist())


class BatchedSamples(Dataset):
    """What our map-style datasets share: ``__getitems__(indices)`` cuts a whole batch at once.

    ``DataLoader`` (batch_size set) calls it with a batch's indices, passed to ``batch(rows)``
    as a slice where they are consecutive (evaluation), else an int64 array; ``collate_fn``
    then passes the batch through. ``dataset[i]`` is the batch of sample ``i`` alone.
    """

    keys: list[str]  # the batch's inputs

    def batch(self, rows: slice | np.ndarray):
        raise NotImplementedError

    def __getitem__(self, i: int):
        return self.__getitems__([i])

    def __getitems__(self, indices):
        if len(indices) and indices[-1] - indices[0] == len(indices) - 1:  # cheap test first; shuffled batches fail it
            lo, hi = int(indices[0]), int(indices[-1]) + 1
            if (indices == list(range(lo, hi))) if isinstance(indices, list) else (np.diff(indices) == 1).all():
                return self.batch(slice(lo, hi))
        return self.batch(np.asarray(indices, dtype=np.int64))


class TensorSamples(BatchedSamples):
    """A dict of tensors as a dataset: ``batch(rows)`` slices every column (``index_select`` for shuffled rows).

    Returns the batched ``(x, y)``, or ``x`` without labels. Cutting all columns at once is about
    3x faster than indexing row by row. Taught in notebooks/01_data_preparation.ipynb.
    """

    def __init__(self, x: Mapping[str, object], y=None):
        self.x = {k: _to_tensor(k, v) for k, v in x.items()}
        self.y = None if y is None else torch.as_tensor(check_labels(y).astype(np.float32))
        self.n = _n_rows(self.x, self.y)

    def __len__(self) -> int:
        return self.n

    def batch(self, rows):
        index = None if isinstance(rows, slice) else torch.from_numpy(rows)

        def cut(v: torch.Tensor) -> torch.Tensor:
            return v[rows] if index is None else v.index_select(0, index)

        xb = {k: cut(v) for k, v in self.x.items()}
        return xb if self.y is None else (xb, cut(self.y))

    @property
    def keys(self) -> list[str]:
        return list(self.x)


def _passthrough(batch):
    """The ``collate_fn`` of our loaders: ``__getitems__`` already returns the batched dict."""
    return batch


class ShardedLoader(DataLoader):
    """A ``torch.utils.data.DataLoader`` over a ``BatchedSamples`` dataset, split for ``rank`` by a ``ShardSampler``.

    Workers and pinned memory are the DataLoader's own. ``n_samples`` is this rank's sample
    count, ``total_samples`` the split's, ``keys`` the inputs.
    Taught in notebooks/01_data_preparation.ipynb (sharding: notebooks/09_scaling_out.ipynb).
    """

    def __init__(self, dataset, batch_size: int = 256, shuffle: bool = False, drop_last: bool = False,
                 seed: int = 2022, rank: int = 0, world_size: int = 1, num_workers: int = 0, pin_memory: bool = False):
        batch_size = _check_int("batch_size", batch_size, 1)
        sampler = ShardSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
        # its own generator: each iter() draws the workers' base seed from it, not from torch's global one
        # (which would shift dropout masks and initialisations that follow)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=bool(drop_last),
                         collate_fn=_passthrough, num_workers=_check_int("num_workers", num_workers, 0),
                         pin_memory=bool(pin_memory), generator=torch.Generator().manual_seed(sampler.seed))
        self.seed, self.epoch = sampler.seed, 0

    def set_epoch(self, epoch: int, seed: int | None = None) -> None:
        """Make the next iteration's shuffle the one of ``(seed or the loader's seed, epoch)``."""
        self.epoch = _check_int("epoch", epoch, 0)
        self.sampler.set_epoch(self.epoch)
        self.sampler.seed = self.seed if seed is None else _check_int("seed", seed, 0)

    rank = property(lambda self: self.sampler.rank)
    world_size = property(lambda self: self.sampler.num_replicas)
    shuffle = property(lambda self: self.sampler.shuffle)
    n_samples = property(lambda self: len(self.sampler))
    total_samples = property(lambda self: len(self.dataset))
    keys = property(lambda self: self.dataset.keys)


class TensorBatchLoader(ShardedLoader):
    """A ``ShardedLoader`` of ``(x, y)`` batches over a dict of tensors (``TensorSamples``).

    ``x`` is a dict of arrays or tensors with the same first dimension, ``y`` the labels (0 or 1;
    None for prediction: batches are then ``x`` alone). Call ``set_epoch(epoch)`` before each
    epoch for a new order (iterating again repeats it). Taught in notebooks/01_data_preparation.ipynb.
    """

    def __init__(self, x: Mapping[str, object], y=None, batch_size: int = 256, shuffle: bool = False, **kw):
        super().__init__(TensorSamples(x, y), batch_size, shuffle, **kw)

    x = property(lambda self: self.dataset.x)
    y = property(lambda self: self.dataset.y)


class DataGenerator:
    """The seed's loader factory: ``DataGenerator(x, y).generate_dataloader(x_val, y_val, x_test, y_test, batch_size)``.

    Without validation data, ``split_ratio=(train, val)`` cuts the training rows (in order).
    Taught in notebooks/01_data_preparation.ipynb.
    """

    def __init__(self, x: Mapping[str, object], y: Iterable):
        self.x = dict(x)
        self.y = check_labels(y)
        _n_rows(self.x, self.y)

    def generate_dataloader(self, x_val=None, y_val=None, x_test=None, y_test=None, split_ratio=None,
                            batch_size: int = 16, num_workers: int = 0, shuffle: bool = True, seed: int = 2022,
                            rank: int = 0, world_size: int = 1):
        """Return ``(train_dl, val_dl, test_dl)``: ``TensorBatchLoader``s, the training one shuffled.

        ``rank`` and ``world_size`` give each loader this process's shard. Batches are cut from
        tensors already in memory, so ``num_workers=0`` (the default) is usually fastest.
        """
        x, y = self.x, self.y
        if x_val is None:
            if split_ratio is None:
                raise ValueError("pass x_val and y_val, or split_ratio=(train_share, val_share) to cut them from x")
            n_train, n_val = int(len(y) * split_ratio[0]), int(len(y) * split_ratio[1])

            def rows(lo, hi):
                return {k: np.asarray(v)[lo:hi] for k, v in x.items()}, y[lo:hi]

            x_val, y_val = rows(n_train, n_train + n_val)
            if x_test is None:
                x_test, y_test = rows(n_train + n_val, len(y))
            x, y = rows(0, n_train)
        shard = {"rank": rank, "world_size": world_size, "num_workers": num_workers}
        train_dl = TensorBatchLoader(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, **shard)
        val_dl = TensorBatchLoader(x_val, y_val, batch_size=batch_size, **shard)
        test_dl = None if x_test is None else TensorBatchLoader(x_test, y_test, batch_size=batch_size, **shard)
        return train_dl, val_dl, test_dl
