"""Prepared samples stored compactly: the one representation of a sample, and its folder on disk.

A history is only a window of the user's time-sorted log, so the lean form keeps the sorted
log's id columns once and, per sample, only what differs (``generate_seq_feature``'s frames,
the teaching path, are views of it; written out in full they take about 3.8 GB for a log of
a million interactions):

============================  ===============================================================
``log.<item>``, ``log.<attr>``  the log sorted by (user, time, tie key), one value per behaviour, then
                                ``max_len`` ``PAD_ID``s (so that every history is one window)
``item.<attr>``                 item id -> attribute (the targets' and negatives' attributes)
``user.<user>``, ``user.<col>`` one row per user: its id and its profile (gender, age, ...)
``<split>.user``                the sample's user (a row of the ``user.*`` arrays)
``<split>.target``              the target item id
``<split>.label``               1 positive, 0 negative (int8)
``<split>.start``, ``.len``     its history is the sorted log's rows ``start .. start + len - 1``
``vocab.<col>``                 raw id of each code, for each encoded column (``encode``)
============================  ===============================================================

A prepared folder holds one ``.npy`` file per array and a JSON manifest, opened memory-mapped
(``open_samples``): the ranks of a ``torchrun`` job that open the same folder share one copy
through the page cache. Taught in notebooks/09_scaling_out.ipynb.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .data import (SPLITS, BatchedSamples, DataPreparationWarning, ShardedLoader, SortedLog, _nanoseconds, _to_tensor,
                   check_labels, draw_samples, history_window, id_vocabulary, sort_log, to_codes, user_level_values)
from .features import PAD_ID

__all__ = ["LeanSamples", "LeanBatchLoader", "LeanDataset", "SamplesMismatchError", "build_samples", "prepare_samples",
           "prepare_samples_from_csv", "open_samples", "FORMAT_VERSION"]

FORMAT = "din-tutorial lean samples"
FORMAT_VERSION = 3  # 2: ties ordered by data.tie_key, not by item id; 3: sparse ids as codes, log columns padded
MANIFEST = "manifest.json"


class SamplesMismatchError(ValueError):
    """A folder made by another format or package version, or with other settings (notebooks/09_scaling_out.ipynb)."""


def _smallest_int(max_value: int, min_value: int = -1) -> type:
    """int32 where every value fits (halves the bytes of int64), else int64."""
    return np.int32 if -2**31 <= min_value and max_value < 2**31 else np.int64


class LeanSamples:
    """Prepared samples in the form described in the module docstring.

    Made by ``build_samples`` (in memory), ``prepare_samples`` / ``prepare_samples_from_csv``
    (written to a folder, then opened) or ``open_samples``. ``arrays`` maps each array's name to
    a NumPy array (a read-only memory map when opened from a folder); ``manifest`` holds the
    settings, column names, counts, vocabulary sizes and a hash of the log. Taught in notebooks/09_scaling_out.ipynb.
    """

    def __init__(self, arrays: dict[str, np.ndarray], manifest: dict, folder: Path | None = None):
        self.arrays = arrays
        self.manifest = manifest
        self.folder = folder
        cols = manifest["columns"]
        self.user_col: str = cols["user"]
        self.item_col: str = cols["item"]
        self.item_attribute_cols: list[str] = list(cols["item_attributes"])
        self.user_columns: list[str] = list(cols["user_level"])
        self.max_len: int = int(manifest["settings"]["max_len"])

    @property
    def settings(self) -> dict:
        """``max_len``, ``neg_ratio``, ``neg_sampling``, ``seed``, ``min_item``, ``shuffle``, ``encode``."""
        return dict(self.manifest["settings"])

    @property
    def vocab(self) -> dict[str, int]:
        """Table sizes: the codes of an encoded column, else ``max() + 1`` over the log."""
        return dict(self.manifest["vocab"])

    @property
    def encoded(self) -> list[str]:
        """The columns stored as codes (``vocabulary(col)[code]`` is the raw id)."""
        return list(self.manifest["columns"].get("encoded", []))

    def vocabulary(self, col: str) -> np.ndarray | None:
        """The raw id of each code of ``col`` (most frequent first), or None when ``col`` holds raw ids."""
        return np.asarray(self.arrays[f"vocab.{col}"]) if col in self.encoded else None

    def encode(self, batch: dict) -> dict:
        """A batch of raw ids (``user``, ``item``, attributes, ``hist_*``) as the model's codes (serving).

        Unknown raw ids become an id outside the vocabulary (the model's zero row), ``PAD_ID``
        stays padding; columns that are not encoded pass unchanged. Tensors stay tensors (on
        their device). Taught in notebooks/01_data_preparation.ipynb.
        """
        out = dict(batch)
        for key, value in batch.items():
            col = key.removeprefix("hist_")
            if col in self.encoded:
                codes = to_codes(np.asarray(value), self.vocabulary(col))
                out[key] = torch.as_tensor(codes, device=value.device) if isinstance(value, torch.Tensor) else codes
        return out

    def _check_split(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return split

    def labels(self, split: str) -> np.ndarray:
        """The labels of ``split`` ("train", "val" or "test") in sample order (int8)."""
        return self.arrays[f"{self._check_split(split)}.label"]

    def n_samples(self, split: str) -> int:
        """How many samples ``split`` holds."""
        return len(self.labels(split))

    def target_counts(self, split: str = "train", label: int = 1, block: int = 1 << 22) -> np.ndarray:
        """How often each item id is the target of a sample of ``split`` with ``label`` (int64, one per id).

        ``np.bincount`` of the target ids, ``block`` samples at a time, ``vocab[item_col]`` entries:
        the popularity baseline reads the targets and labels only, never a history.
        """
        target, labels = self.arrays[f"{self._check_split(split)}.target"], self.labels(split)
        counts = np.zeros(self.vocab[self.item_col], dtype=np.int64)
        for lo in range(0, len(labels), int(block)):
            t = np.asarray(target[lo:lo + block])
            counts += np.bincount(t[np.asarray(labels[lo:lo + block]) == label], minlength=len(counts))
        return counts

    @property
    def keys(self) -> list[str]:
        """The inputs of every batch, in ``df_to_dict``'s order."""
        hist = [f"hist_{c}" for c in (self.item_col, *self.item_attribute_cols)]
        return [self.user_col, self.item_col, *self.item_attribute_cols, *hist, "hist_len", *self.user_columns]

    def gather(self, split: str, rows) -> dict[str, np.ndarray]:
        """The inputs of the samples ``rows`` (an index array or a slice) of ``split``, in ``keys``' order.

        Ids, ``hist_len`` and the ``(len(rows), max_len)`` histories (``history_window``, oldest
        first) as int64 arrays; profile columns as stored.
        """
        a, split = self.arrays, self._check_split(split)
        user = np.asarray(a[f"{split}.user"][rows], dtype=np.int64)
        target = np.asarray(a[f"{split}.target"][rows], dtype=np.int64)
        hist_len = np.asarray(a[f"{split}.len"][rows], dtype=np.int64)
        start = np.asarray(a[f"{split}.start"][rows], dtype=np.int64)
        out = {self.user_col: np.asarray(a[f"user.{self.user_col}"][user], dtype=np.int64), self.item_col: target}
        for c in self.item_attribute_cols:
            out[c] = np.asarray(a[f"item.{c}"][target], dtype=np.int64)
        for c in (self.item_col, *self.item_attribute_cols):
            out[f"hist_{c}"] = history_window(a[f"log.{c}"], start, hist_len, self.max_len)
        out["hist_len"] = hist_len
        for c in self.user_columns:
            out[c] = np.asarray(a[f"user.{c}"][user])
        return out

    def loader(self, split: str, batch_size: int = 2048, shuffle: bool | None = None, **kw) -> LeanBatchLoader:
        """A ``DataLoader`` over ``split``; ``shuffle`` defaults to True for "train", False otherwise.

        ``kw``: ``drop_last``, ``seed``, ``rank``, ``world_size``, ``num_workers``, ``pin_memory``.
        """
        return LeanBatchLoader(self, split, batch_size, (split == "train") if shuffle is None else shuffle, **kw)

    def loaders(self, batch_size: int = 2048, **kw) -> tuple[LeanBatchLoader, LeanBatchLoader, LeanBatchLoader]:
        """``(train, val, test)`` loaders as ``DataGenerator.generate_dataloader`` makes them (train shuffled)."""
        return tuple(self.loader(s, batch_size=batch_size, **kw) for s in SPLITS)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write one ``.npy`` file per array and the manifest into a new folder, then move it to ``folder``.

        The files go to a temporary folder beside ``folder``, renamed into place once complete
        (atomic on one file system). An existing prepared folder is renamed aside first and
        removed after the swap: a process that has its arrays memory-mapped keeps reading the
        old values, and a failure while writing leaves it whole. Between the two renames
        ``folder`` is briefly absent: open it after ``save`` returns (the main job waits at a barrier).
        """
        folder = Path(folder)
        if folder.exists():
            if not folder.is_dir():
                raise FileExistsError(f"{folder} is a file, not a folder; choose a folder path for the prepared samples")
            if any(folder.iterdir()) and not (folder / MANIFEST).exists():
                raise FileExistsError(
                    f"{folder} exists, is not empty and holds no {MANIFEST}: it is not a prepared-samples folder; "
                    f"choose a new or empty folder"
                )
        folder.parent.mkdir(parents=True, exist_ok=True)
        unique = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # beside folder: the same file system, so renames are atomic
        tmp, old = folder.parent / f".{folder.name}.new-{unique}", folder.parent / f".{folder.name}.old-{unique}"
        tmp.mkdir()
        try:
            for name, arr in self.arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
            (tmp / MANIFEST).write_text(json.dumps(self.manifest, indent=2, sort_keys=True))
            moved = folder.exists()
            if moved:  # a directory cannot be renamed onto a non-empty one: move the old one aside first
                os.rename(folder, old)
            try:
                os.rename(tmp, folder)
            except BaseException:
                if moved:
                    os.rename(old, folder)  # put the old one back
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)  # memory maps of its files stay valid until unmapped
        return folder

    def __repr__(self) -> str:
        c = self.manifest["counts"]
        where = f" at {self.folder}" if self.folder else " in memory"
        return (f"LeanSamples({c['interactions']} interactions, train/val/test {c['train']}/{c['val']}/{c['test']}"
                f" samples, max_len {self.max_len}{where})")


def _log_hash(log: SortedLog, user_values: dict[str, np.ndarray]) -> str:
    """sha256 of the sorted log's columns and the users' columns: equal for logs equal up to row order."""
    h = hashlib.sha256()
    for name, arr in [("user", log.users), ("item", log.items), ("time", log.times),
                      *((f"attr.{c}", a) for c, a in sorted(log.attrs.items())),
                      *((f"user.{c}", v) for c, v in sorted(user_values.items()))]:
        kind = arr.dtype.kind  # one canonical dtype per kind: a log read as int32 hashes as the same log in int64
        arr = np.ascontiguousarray(arr, dtype=np.int64 if kind in "iu" else np.float64 if kind == "f" else arr.dtype)
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def build_samples(data: pd.DataFrame, user_col: str = "user_id", item_col: str = "item_id",
                  time_col: str = "timestamp", item_attribute_cols: Sequence[str] | None = None,
                  min_item: int = 0, shuffle: bool = True, max_len: int = 50, neg_ratio: int = 1,
                  neg_sampling: str = "uniform", seed: int = 2022,
                  user_columns: Sequence[str] | None = None, encode: bool | None = None) -> LeanSamples:
    """The samples of ``generate_seq_feature(data, ...)`` (same arguments) in the lean form, in memory.

    ``encode`` stores the user, item and item-attribute ids as contiguous codes
    (``data.id_vocabulary``: most frequent first) with each column's vocabulary as
    ``vocab.<col>``: True for every such column, False for none (ids as given), None (the
    default) for the columns whose largest id + 1 exceeds twice their distinct ids (an
    already-encoded log keeps its own codes). The samples are drawn on the raw ids, so
    decoding gives exactly the samples of ``encode=False``.

    ``user_columns=None`` carries every user-level column as ``generate_seq_feature`` does;
    numeric ones only, as a memory map holds numbers (datetimes become int64 nanoseconds);
    others are dropped with a warning that names them. Taught in notebooks/09_scaling_out.ipynb.
    """
    log = sort_log(data, user_col, item_col, time_col, item_attribute_cols)
    if user_columns is not None:
        missing = [c for c in user_columns if c not in data.columns]
        if missing:
            raise KeyError(f"user_columns {missing} not found in data; it has {list(data.columns)}")
    users = user_level_values(data, log, None if user_columns is None else list(user_columns))
    if user_columns is not None and set(users) != set(user_columns):
        varying = [c for c in user_columns if c not in users]
        raise ValueError(f"user_columns {varying} vary within a user; a profile column needs one value per user")
    users = {c: _nanoseconds(v) if v.dtype.kind == "M" else v for c, v in users.items()}
    dropped = [c for c, v in users.items() if v.dtype.kind not in "biuf"]
    if dropped:
        warnings.warn(f"user-level column(s) {dropped} are not numeric and were left out of the lean samples; "
                      f"encode them as integer ids (.astype('category').cat.codes) to keep them",
                      DataPreparationWarning, stacklevel=2)
    if encode not in (None, True, False):
        raise ValueError(f"encode must be True, False or None (encode the sparse id columns), got {encode!r}")
    kept = {c: v for c, v in users.items() if c not in dropped}
    return _assemble(log, kept, encode, stacklevel=2, min_item=min_item, shuffle=shuffle, max_len=max_len,
                     neg_ratio=neg_ratio, neg_sampling=neg_sampling, seed=seed)


def _assemble(log: SortedLog, users: dict[str, np.ndarray], encode: bool | None, stacklevel: int,
              **draw) -> LeanSamples:
    """``draw_samples(log, **draw)`` stored in the lean form, with the users' profile columns ``users``.

    Both paths build their samples here: ``build_samples`` and ``generate_seq_feature``.
    """
    samples = draw_samples(log, **draw, stacklevel=stacklevel + 1)
    max_len = int(draw["max_len"])
    settings = {"max_len": max_len, "neg_ratio": int(draw["neg_ratio"]), "neg_sampling": draw["neg_sampling"],
                "seed": int(draw["seed"]), "min_item": int(draw["min_item"]), "shuffle": bool(draw["shuffle"]),
                "encode": encode}
    columns = {log.user_col: log.users, log.item_col: log.items, **log.attrs}
    vocabs = {}  # the raw id of each code, for the encoded columns: all with encode=True, the sparse ones with None
    if encode is not False:
        vocabs = {c: id_vocabulary(v) for c, v in columns.items()}
        vocabs = {c: v for c, v in vocabs.items() if encode or int(columns[c].max()) + 1 > 2 * len(v)}
    vocab = {c: len(vocabs[c]) if c in vocabs else int(v.max()) + 1 for c, v in columns.items()}  # table sizes
    vocab.update({c: int(v.max()) + 1 for c, v in users.items() if v.dtype.kind in "iu" and len(v)})

    def ids(col, values):  # the stored form of raw ids of ``col``: codes where encoded
        return to_codes(values, vocabs[col]) if col in vocabs else values

    def padded(values):  # a log column, then max_len PAD_IDs: every history is one window of it
        return np.concatenate([values.astype(id_type, copy=False), np.full(max_len, PAD_ID, dtype=id_type)])

    log_items = ids(log.item_col, log.items)
    item_of_row = vocabs[log.item_col] if log.item_col in vocabs else np.arange(log.n_items_key)
    attr_of_item = {c: ids(c, t[item_of_row]) for c, t in log.attr_of_item.items()}  # indexed by stored item id
    id_type = _smallest_int(max([int(log_items.max())] + [int(t.max()) for t in attr_of_item.values()]))
    arrays: dict[str, np.ndarray] = {f"log.{log.item_col}": padded(log_items)}
    for c in log.attrs:
        arrays[f"log.{c}"] = padded(ids(c, log.attrs[c]))
        arrays[f"item.{c}"] = attr_of_item[c].astype(id_type)
    user_ids = ids(log.user_col, log.user_ids)
    arrays[f"user.{log.user_col}"] = user_ids.astype(_smallest_int(int(user_ids.max())))
    for c, v in users.items():
        arrays[f"user.{c}"] = v.astype(_smallest_int(int(v.max()), int(v.min()))) if v.dtype.kind in "iu" else v
    stored_type = {"user": _smallest_int(len(user_ids)), "target": id_type, "label": np.int8,
                   "start": _smallest_int(len(log.items)), "len": np.int16 if max_len < 2**15 else np.int32}
    for name, v in samples.items():
        field = name.split(".")[1]
        arrays[name] = (ids(log.item_col, v) if field == "target" else v).astype(stored_type[field])
    arrays.update({f"vocab.{c}": v for c, v in vocabs.items()})
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__,
        "settings": settings,
        "columns": {"user": log.user_col, "item": log.item_col, "time": log.time_col,
                    "item_attributes": list(log.attrs), "user_level": list(users), "encoded": list(vocabs)},
        "counts": {"interactions": len(log.items), "users": len(user_ids),
                   **{s: len(samples[f"{s}.label"]) for s in SPLITS}},
        "vocab": vocab,
        "log_sha256": _log_hash(log, users),
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
    }
    return LeanSamples(arrays, manifest)


def prepare_samples(data: pd.DataFrame, folder: str | os.PathLike, **kwargs) -> LeanSamples:
    """``build_samples(data, **kwargs)`` written to ``folder``, returned opened memory-mapped.

    The in-memory arrays are freed before returning: the caller holds only the pages a batch has
    touched (shared through the page cache). Taught in notebooks/09_scaling_out.ipynb.
    """
    build_samples(data, **kwargs).save(folder)
    return open_samples(folder)


def prepare_samples_from_csv(path: str | os.PathLike, folder: str | os.PathLike, user_col: str = "user_id",
                             item_col: str = "item_id", time_col: str = "timestamp",
                             item_attribute_cols: Sequence[str] | None = None, user_columns: Sequence[str] = (),
                             chunksize: int = 1_000_000, sep: str = ",", **kwargs) -> LeanSamples:
    """Prepare the lean samples of a CSV log too big for a pandas frame of all its columns.

    Reads only the named columns (``usecols``), ``chunksize`` rows at a time, keeping each
    id column as int32 where its values fit. ``user_columns`` names the profile columns to
    carry (a column must be named to be read). Other arguments as ``build_samples``.
    Taught in notebooks/09_scaling_out.ipynb.
    """
    item_attribute_cols, user_columns = list(item_attribute_cols or ()), list(user_columns)
    cols = [user_col, item_col, time_col, *item_attribute_cols, *user_columns]
    header = pd.read_csv(path, sep=sep, nrows=0).columns
    missing = [c for c in cols if c not in header]
    if missing:
        raise KeyError(f"column(s) {missing} not found in {path}; it has {list(header)}")
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    for chunk in pd.read_csv(path, sep=sep, usecols=cols, chunksize=int(chunksize)):
        for c in cols:
            v = chunk[c].to_numpy()
            if v.dtype.kind == "i" and len(v) and _smallest_int(int(v.max()), int(v.min())) is np.int32:
                v = v.astype(np.int32)
            elif c == time_col and v.dtype.kind == "O":
                v = pd.to_datetime(chunk[c]).to_numpy()
            parts[c].append(v)
        del chunk
    frame = pd.DataFrame({c: np.concatenate(parts.pop(c)) for c in cols}, copy=False)
    samples = build_samples(frame, user_col=user_col, item_col=item_col, time_col=time_col,
                            item_attribute_cols=item_attribute_cols, user_columns=user_columns, **kwargs)
    del frame  # the log's columns, before the arrays are written
    samples.save(folder)
    del samples
    return open_samples(folder)


def open_samples(folder: str | os.PathLike, **expected) -> LeanSamples:
    """Open a prepared folder memory-mapped (``np.load(mmap_mode="r")``): nothing is read yet.

    ``expected`` names what the caller needs: any of ``LeanSamples.settings``, ``user_col``,
    ``item_col``, ``time_col``, ``item_attribute_cols`` and ``log_sha256``. A folder made with
    other values, or by another format or package version, raises ``SamplesMismatchError``
    naming each difference. Taught in notebooks/09_scaling_out.ipynb.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{folder} holds no {MANIFEST}: prepare it first with prepare_samples(data, {str(folder)!r})")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise SamplesMismatchError(f"{path} is not a lean-samples manifest (format {manifest.get('format')!r})")
    diffs = []
    if manifest.get("format_version") != FORMAT_VERSION:
        diffs.append(f"format_version: folder {manifest.get('format_version')!r}, this package reads {FORMAT_VERSION}")
    if manifest.get("package_version") != __version__:
        diffs.append(f"package_version: folder made by din-tutorial {manifest.get('package_version')!r}, "
                     f"this is {__version__!r}")
    cols = manifest["columns"]
    known = {**manifest["settings"], "user_col": cols["user"], "item_col": cols["item"], "time_col": cols["time"],
             "item_attribute_cols": list(cols["item_attributes"]), "log_sha256": manifest["log_sha256"]}
    for key, want in expected.items():
        if key not in known:
            raise TypeError(f"open_samples got an unknown setting {key!r}; it checks {sorted(known)}")
        want = list(want) if key == "item_attribute_cols" else want
        if known[key] != want:
            diffs.append(f"{key}: folder {known[key]!r}, asked {want!r}")
    if diffs:
        raise SamplesMismatchError(
            f"{folder} was prepared differently: " + "; ".join(diffs)
            + ". Prepare it again (prepare_samples(data, folder, ...)) or ask for the folder's settings"
        )
    arrays = {}
    for name, meta in manifest["arrays"].items():
        arr = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if arr.dtype.str != meta["dtype"] or list(arr.shape) != meta["shape"]:
            raise SamplesMismatchError(
                f"{folder / (name + '.npy')} holds {arr.dtype.str} {list(arr.shape)}, the manifest says "
                f"{meta['dtype']} {meta['shape']}: the folder is damaged; prepare it again"
            )
        arrays[name] = arr
    samples = LeanSamples(arrays, manifest, folder)
    for split in SPLITS:
        check_labels(samples.labels(split), what=f"{folder}'s {split} labels")
    return samples


class LeanDataset(BatchedSamples):
    """One split of ``LeanSamples`` as a dataset: ``batch(rows)`` is ``LeanSamples.gather`` as tensors.

    Nothing is copied up front. Taught in notebooks/09_scaling_out.ipynb.
    """

    def __init__(self, samples: LeanSamples, split: str):
        self.samples, self.split = samples, samples._check_split(split)
        check_labels(samples.labels(split), what=f"the {split} labels")

    def __len__(self) -> int:
        return self.samples.n_samples(self.split)

    def batch(self, rows):
        xb = {k: _to_tensor(k, v) for k, v in self.samples.gather(self.split, rows).items()}
        return xb, torch.from_numpy(np.asarray(self.samples.labels(self.split)[rows], dtype=np.float32))

    @property
    def keys(self) -> list[str]:
        return self.samples.keys


class LeanBatchLoader(ShardedLoader):
    """A ``DataLoader`` of ``(x, y)`` batches of one split of ``LeanSamples`` (``LeanDataset``), split for ``rank``.

    A ``ShardedLoader`` as ``TensorBatchLoader`` is: the same batches for the same log (the same keys,
    values and order, without the target time and the label). Taught in notebooks/09_scaling_out.ipynb.
    """

    def __init__(self, samples: LeanSamples, split: str, batch_size: int = 2048, shuffle: bool = False, **kw):
        super().__init__(LeanDataset(samples, split), batch_size, shuffle, **kw)
