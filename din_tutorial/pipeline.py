"""The seed's whole pipeline as functions: prepare, define features, train, evaluate, export, draw.

``python -m din_tutorial`` (the main job) calls :func:`run`; notebooks and
``benchmarks/quality.py`` call the same pieces, so the numbers they show come from one place.

Taught in notebooks/05_training.ipynb and notebooks/06_evaluation.ipynb.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets.schema import PROFILE_COLUMNS  # the user profile columns the seed embeds with size 8
from .features import SequenceFeature, SparseFeature
from .settings import SEED_ATTENTION_MLP, SEED_MLP_PARAMS, SEED_OPTIMIZER_PARAMS

__all__ = [
    "SEED_MLP_PARAMS",
    "SEED_ATTENTION_MLP",
    "SEED_OPTIMIZER_PARAMS",
    "PROFILE_COLUMNS",
    "Prepared",
    "prepare",
    "prepare_lean",
    "table_sizes",
    "seed_features",
    "build_model",
    "train_and_evaluate",
    "popularity_scores",
    "tutorial_data",
    "load_or_train",
    "run",
]

#: In fast mode (DIN_TUTORIAL_FAST=1) the notebooks keep only this many users of the sample.
FAST_USERS = 600



@dataclass
class Prepared:
    """Everything the training step needs: frames, loaders and vocabulary sizes."""

    data: pd.DataFrame
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    train_dl: object
    val_dl: object
    test_dl: object
    vocab: dict
    samples: object = None  # the lean samples (din_tutorial.samples.LeanSamples) when prepared by prepare_lean


def prepare(data: pd.DataFrame, max_len: int = 50, batch_size: int = 2048, seed: int = 2022,
            neg_sampling: str = "uniform", rank: int = 0, world_size: int = 1) -> Prepared:
    """The seed's section 2: sequences, the time split, negatives, dicts and loaders.

    ``rank`` and ``world_size``: the loaders hold this process's shard (under ``torchrun``).
    """
    from .data import DataGenerator, df_to_dict, generate_seq_feature

    train, val, test = generate_seq_feature(
        data=data, user_col="user_id", item_col="item_id", time_col="timestamp",
        item_attribute_cols=["cate_id"], min_item=0, shuffle=True, max_len=max_len,
        neg_sampling=neg_sampling, seed=seed,
    )
    vocab = {c: int(data[c].max()) + 1 for c in ("user_id", "item_id", "cate_id", *PROFILE_COLUMNS) if c in data}
    x_train, y_train = df_to_dict(train), train["label"].values
    x_val, y_val = df_to_dict(val), val["label"].values
    x_test, y_test = df_to_dict(test), test["label"].values
    train_dl, val_dl, test_dl = DataGenerator(x_train, y_train).generate_dataloader(
        x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test, batch_size=batch_size, seed=seed,
        rank=rank, world_size=world_size,
    )
    return Prepared(data, train, val, test, train_dl, val_dl, test_dl, vocab)


def prepare_lean(data: pd.DataFrame, folder: str | Path, max_len: int = 50, batch_size: int = 2048,
                 seed: int = 2022, rank: int = 0, world_size: int = 1) -> Prepared:
    """The same samples as :func:`prepare`, in the lean form (``din_tutorial.samples``): the main job's path.

    Rank 0 writes them to ``folder`` (a log's id columns once, and a few numbers per sample); every
    process then opens the folder memory-mapped, so N processes share one copy through the page
    cache, and each loader gathers its own shard's histories per batch. ``Prepared.samples`` holds the
    opened samples; ``train`` / ``val`` / ``test`` (the DataFrames of :func:`prepare`) are None.

    On several machines (``torchrun --nnodes``), ``folder`` may or may not be on a file system they
    share: the first process of each other machine (``LOCAL_RANK`` 0) opens ``folder``, and prepares
    it on its machine unless it holds the samples rank 0 just prepared (the same settings and the
    same log's hash). Every process opens the folder only if its log hash is this log's, so a stale
    folder made from another log with the same settings is never used.
    Taught in notebooks/09_scaling_out.ipynb.
    """
    from . import distributed as D
    from .samples import SamplesMismatchError, open_samples, prepare_samples

    settings = dict(max_len=max_len, seed=seed, neg_ratio=1, neg_sampling="uniform", shuffle=True, min_item=0)
    columns = dict(user_col="user_id", item_col="item_id", time_col="timestamp", item_attribute_cols=["cate_id"])
    log_sha256 = None
    if D.rank() == 0:
        log_sha256 = prepare_samples(data, folder, **columns, **settings).manifest["log_sha256"]
    log_sha256 = D.broadcast_object(log_sha256)  # after rank 0's folder is complete
    if D.rank() != 0 and D.local_rank() == 0:  # the first process of another machine
        try:
            open_samples(folder, log_sha256=log_sha256, **columns, **settings)  # a shared folder: rank 0's
        except (FileNotFoundError, SamplesMismatchError):  # none, or a stale one: this machine's own copy
            prepare_samples(data, folder, **columns, **settings)
    D.barrier()  # every machine's folder is complete before its processes open it
    samples = open_samples(folder, log_sha256=log_sha256, **columns, **settings)
    train_dl, val_dl, test_dl = samples.loaders(batch_size=batch_size, seed=seed, rank=rank, world_size=world_size)
    return Prepared(data, None, None, None, train_dl, val_dl, test_dl, table_sizes(samples), samples=samples)


def table_sizes(samples) -> dict:
    """The sizes of the seed's tables (ids, categories, profile) from prepared samples, for :func:`build_model`.

    The codes of a log with sparse raw ids (``samples.vocabulary(col)`` maps them back), else max + 1.
    """
    return {c: n for c, n in samples.vocab.items() if c in ("user_id", "item_id", "cate_id", *PROFILE_COLUMNS)}


def seed_features(vocab: dict, embed_dim: int = 16, profile_dim: int = 8):
    """The seed's section 2.2: ``(features, target_features, history_features)``."""
    features = [SparseFeature("user_id", vocab_size=vocab["user_id"], embed_dim=embed_dim)]
    features += [SparseFeature(c, vocab_size=vocab[c], embed_dim=profile_dim) for c in PROFILE_COLUMNS if c in vocab]
    target_features = [
        SparseFeature("item_id", vocab_size=vocab["item_id"], embed_dim=embed_dim),
        SparseFeature("cate_id", vocab_size=vocab["cate_id"], embed_dim=embed_dim),
    ]
    history_features = [
        SequenceFeature("hist_item_id", vocab_size=vocab["item_id"], embed_dim=embed_dim, pooling="concat",
                        shared_with="item_id"),
        SequenceFeature("hist_cate_id", vocab_size=vocab["cate_id"], embed_dim=embed_dim, pooling="concat",
                        shared_with="cate_id"),
    ]
    return features, target_features, history_features


def build_model(kind: str, vocab: dict, mlp_params: dict | None = None, attention_mlp: dict | None = None, **kw):
    """DIN or the paper's BaseModel with the seed's features and settings."""
    from .models import DIN, BaseModel

    features, target_features, history_features = seed_features(vocab)
    cls = {"din": DIN, "basemodel": BaseModel, "base": BaseModel}.get(kind.lower())
    if cls is None:
        raise ValueError(f"model kind {kind!r} is unknown; use 'din' or 'basemodel'")
    return cls(features=features, history_features=history_features, target_features=target_features,
               mlp_params=mlp_params or SEED_MLP_PARAMS, attention_mlp=attention_mlp or SEED_ATTENTION_MLP, **kw)


def train_and_evaluate(model, prepared: Prepared, n_epoch: int = 3, device: str = "cpu", seed: int = 2022,
                       model_path: str | Path = "./saved/din", verbose: bool = True, earlystop_patience: int = 2,
                       sparse_embeddings: bool = False):
    """The seed's sections 4 and 5: fit with early stopping, then test AUC, GAUC and log loss.

    ``sparse_embeddings``: update the tables only on the rows each batch touches
    (:class:`~din_tutorial.training.CTRTrainer`); the notebooks keep the seed's dense updates.
    """
    from .training import CTRTrainer

    trainer = CTRTrainer(model, optimizer_params=dict(SEED_OPTIMIZER_PARAMS), n_epoch=n_epoch,
                         earlystop_patience=earlystop_patience, device=device, model_path=str(model_path),
                         seed=seed, verbose=verbose, sparse_embeddings=sparse_embeddings)
    start = time.perf_counter()
    trainer.fit(prepared.train_dl, prepared.val_dl)
    metrics = trainer.evaluate(trainer.model, prepared.test_dl, all_metrics=True)
    metrics["train_seconds"] = time.perf_counter() - start
    metrics["best_epoch"] = trainer.best_epoch
    return trainer, metrics


def popularity_scores(train: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """A baseline without a model: score each candidate by how often it was a positive in training."""
    return _popularity(train["item_id"].to_numpy(), train["label"].to_numpy(), frame["item_id"].to_numpy())


def _popularity(train_items: np.ndarray, train_labels: np.ndarray, items: np.ndarray) -> np.ndarray:
    """How often each of ``items`` was a positive target among the training samples."""
    counts = np.bincount(train_items[train_labels == 1], minlength=int(max(train_items.max(), items.max())) + 1)
    return counts[items].astype(np.float64)


def tutorial_data(n_users: int | None = None) -> pd.DataFrame:
    """The bundled sample; in fast mode (or with ``n_users``) only the users with the smallest ids."""
    from .config import is_fast_mode
    from .datasets import load_dataset

    data = load_dataset("sample")
    if n_users is None and is_fast_mode():
        n_users = FAST_USERS
    if n_users is not None:
        data = data[data["user_id"] < n_users].reset_index(drop=True)
    return data


def load_or_train(kind: str, prepared: Prepared, n_epoch: int = 3, seed: int = 2022,
                  cache_dir: str | Path = "saved/tutorial_models", verbose: bool = False, **model_kw):
    """A trained DIN or BaseModel for the notebooks that study one (06, 07, 08): loaded if cached, else trained.

    The cache key is a hash of everything that changes the trained model: the model kind and
    options (with the seed's defaults filled in), the epochs, the trainer's seed, optimiser and
    patience, the *content* of the raw frame and of every loader's tensors (so the negatives of
    ``neg_sampling``, ``max_len``, the split's seed and any changed value count), each loader's
    batch size and shuffling, the source of the modules that build and train the model, and
    the package and torch versions. The same inputs load; any change trains again. Returns
    ``(model, history)``. Taught in notebooks/06_evaluation.ipynb.
    """
    import hashlib

    import torch

    from . import __version__
    from .config import seed_everything

    h = hashlib.sha256()

    def canon(v):  # a JSON-able form of a setting; tensors and arrays by their content, not their repr
        if isinstance(v, dict):
            return {str(k): canon(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
        if isinstance(v, (list, tuple)):
            return [canon(x) for x in v]
        if isinstance(v, (torch.Tensor, np.ndarray)):
            a = v.detach().cpu().contiguous().numpy() if isinstance(v, torch.Tensor) else np.ascontiguousarray(v)
            return ["array", str(a.dtype), list(a.shape), hashlib.sha256(a.tobytes()).hexdigest()]
        return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)

    def feed(*parts) -> None:
        h.update(json.dumps(canon(parts), sort_keys=True).encode())

    def feed_loader(name: str, dl) -> None:
        if dl is None:
            return feed(name, None)
        gen = getattr(dl, "_gen", None)  # the shuffling generator's seed, where the loader keeps one
        feed(name, getattr(dl, "batch_size", None), getattr(dl, "shuffle", None), getattr(dl, "drop_last", None),
             getattr(dl, "seed", None), gen.initial_seed() if isinstance(gen, torch.Generator) else None)
        for col, t in sorted(dl.x.items()):
            t = t.contiguous()
            feed(col, str(t.dtype), list(t.shape))
            h.update(t.numpy().tobytes())
        if dl.y is not None:
            h.update(dl.y.contiguous().numpy().tobytes())

    kw = {"mlp_params": SEED_MLP_PARAMS, "attention_mlp": SEED_ATTENTION_MLP, **model_kw}
    feed(kind.lower(), n_epoch, seed, kw, SEED_OPTIMIZER_PARAMS,
         sorted(prepared.vocab.items()), __version__, torch.__version__, "earlystop_patience=2")
    h.update(pd.util.hash_pandas_object(prepared.data, index=True).to_numpy().tobytes())
    feed(list(prepared.data.columns), [str(t) for t in prepared.data.dtypes])
    for name in ("train_dl", "val_dl", "test_dl"):
        feed_loader(name, getattr(prepared, name))
    package = Path(__file__).resolve().parent
    for src in sorted([*package.glob("models/*.py"), *package.glob("layers/*.py"),
                       *(package / f for f in ("training.py", "data.py", "features.py", "metrics.py", "pipeline.py"))]):
        feed(src.relative_to(package).as_posix())
        h.update(src.read_bytes())
    key = h.hexdigest()[:16]
    folder = Path(cache_dir) / f"{kind.lower()}-{key}"
    seed_everything(seed)
    model = build_model(kind, prepared.vocab, **model_kw)
    if (folder / "model.pth").exists() and (folder / "history.json").exists():
        model.load_state_dict(torch.load(folder / "model.pth", map_location="cpu", weights_only=True))
        return model.eval(), json.loads((folder / "history.json").read_text())
    trainer, _ = train_and_evaluate(model, prepared, n_epoch=n_epoch, seed=seed, model_path=folder, verbose=verbose)
    (folder / "history.json").write_text(json.dumps(trainer.history))
    return trainer.model.eval(), trainer.history


def _format_table(rows: dict) -> str:
    header = f"{'model':<12} {'test AUC':>9} {'test GAUC':>10} {'logloss':>8} {'train s':>8}"
    lines = [header, "-" * len(header)]
    for name, m in rows.items():
        train_s = f"{m['train_seconds']:8.1f}" if "train_seconds" in m else f"{'-':>8}"
        loss = f"{m['logloss']:8.4f}" if "logloss" in m else f"{'-':>8}"  # popularity counts are no probabilities
        lines.append(f"{name:<12} {m['auc']:9.4f} {m['gauc']:10.4f} {loss} {train_s}")
    return "\n".join(lines)


def run(data: pd.DataFrame | None = None, epochs: int = 3, device: str = "cpu", seed: int = 2022,
        out_dir: str | Path = "din_output", batch_size: int = 2048, max_len: int = 50,
        export: bool = True, draw: bool = True, verbose: bool = True, sync_dice: bool = False,
        sparse_embeddings: bool | None = None) -> dict:
    """Prepare, train DIN and BaseModel, evaluate, export DIN to ONNX, draw it; write artifacts to ``out_dir``.

    Under ``torchrun`` every process runs this: each trains on its shard (DistributedDataParallel),
    the test metrics cover the whole split, and rank 0 alone prints, exports, draws and writes.
    ``batch_size`` is the global batch (each of N processes takes ``batch_size // N``);
    ``sync_dice`` computes Dice's statistics over all processes (notebooks/09_scaling_out.ipynb).
    ``sparse_embeddings``: tables updated only on the rows a batch touches (SparseAdam; per-step
    work that follows the batch, not the vocabulary: benchmarks/vocab_step.py). None (default):
    sparse in one process, dense under ``torchrun``: NCCL cannot all-reduce sparse gradients, and
    DDP's sparse all-reduce on gloo crashed the main job (SIGSEGV in backward, 2 processes, one core
    kept busy: `.ci/run` at c6edee5, twice in one run) where dense never did.
    Under ``torchrun``, ``data`` is read only where samples are prepared: rank 0, and the first process
    of each other machine (which may have to prepare its own copy); the other processes may pass None
    and open the prepared folder (reading the 2.7-million-row log of benchmarks/scale_torchrun.py with
    pandas raises a process's PSS by about 260 MB; the frame itself is 164 MiB).
    Returns the results dict that is also written to ``out_dir/results.json``.
    """
    from . import distributed as D
    from .training import resolve_device

    # joins torchrun's process group (if any) and leaves it at the end, also after an error
    with D.process_group(D.device_for_this_process(resolve_device(device))):
        return _run(data, epochs=epochs, device=device, seed=seed, out_dir=out_dir, batch_size=batch_size,
                    max_len=max_len, export=export, draw=draw, verbose=verbose, sync_dice=sync_dice,
                    sparse_embeddings=sparse_embeddings)


def _run(data, epochs, device, seed, out_dir, batch_size, max_len, export, draw, verbose, sync_dice,
         sparse_embeddings=None) -> dict:
    from . import distributed as D
    from . import metrics as M
    from .config import seed_everything

    rank, world = D.rank(), D.world_size()
    main = rank == 0
    if sparse_embeddings is None:  # dense under torchrun: NCCL has no sparse all-reduce, gloo's crashed (docstring)
        sparse_embeddings = world == 1
    verbose = verbose and main
    if world > 1 and batch_size < world:
        raise ValueError(f"batch_size={batch_size} is smaller than the {world} processes; each needs at least one row")
    out = Path(out_dir)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    # the bundled sample by default; under torchrun a machine's other processes open what its first one prepares
    if data is None and D.first_process_on_machine():
        from .datasets import load_dataset

        data = load_dataset("sample")
    t0 = time.perf_counter()
    prepared = prepare_lean(data, out / "samples", max_len=max_len, batch_size=batch_size // world, seed=seed,
                            rank=rank, world_size=world)
    samples = prepared.samples
    log = {} if data is None else {"rows": len(data), "users": int(data["user_id"].nunique()),
                                   "items": int(data["item_id"].nunique())}  # rank 0 writes them
    results = {
        "data": {**log, "train_samples": samples.n_samples("train"), "val_samples": samples.n_samples("val"),
                 "test_samples": samples.n_samples("test"), "prepare_seconds": round(time.perf_counter() - t0, 2),
                 "prepared_folder": str(out / "samples")},
        "settings": {"epochs": epochs, "device": device, "seed": seed, "batch_size": batch_size, "max_len": max_len,
                     "world_size": world, "sync_dice": sync_dice, "sparse_embeddings": sparse_embeddings},
        "models": {},
    }
    trainers = {}
    for name in ("DIN", "BaseModel"):
        seed_everything(seed)
        model = build_model(name, prepared.vocab, sync_dice=sync_dice)
        if verbose:
            where = f" on {world} processes" if world > 1 else ""
            print(f"training {name} for up to {epochs} epoch(s) on {samples.n_samples('train'):,} samples{where}")
        trainer, m = train_and_evaluate(model, prepared, n_epoch=epochs, device=device, seed=seed,
                                        model_path=out / name.lower(), verbose=verbose,
                                        sparse_embeddings=sparse_embeddings)
        trainers[name] = trainer
        results["models"][name] = m
        results.setdefault("history", {})[name] = trainer.history
    if not main:  # rank 0 alone evaluates the baseline, exports, draws and writes
        D.barrier()
        return results
    test = samples.gather("test", slice(0, samples.n_samples("test")))
    test_labels = np.asarray(samples.labels("test"))
    pop = samples.target_counts("train")[test["item_id"]].astype(np.float64)  # training positives; no history read
    results["models"]["Popularity"] = {
        "auc": M.auc(test_labels, pop), "gauc": M.gauc(test_labels, pop, test["user_id"]),
    }
    din, base = results["models"]["DIN"], results["models"]["BaseModel"]
    for metric in ("gauc", "auc"):  # undefined (None) when the BaseModel is no better than chance, e.g. a tiny log
        results[f"rela_impr_{metric}_percent"] = M.rela_impr(din[metric], base[metric]) if base[metric] > 0.5 else None

    din_model = trainers["DIN"].model
    if export:
        try:
            from .export import export_onnx, verify_onnx

            onnx_path = export_onnx(din_model, out / "din.onnx", data_loader=prepared.test_dl, dynamic_batch=True)
            results["onnx"] = {"path": str(onnx_path), **verify_onnx(din_model, onnx_path, prepared.test_dl)}
        except ImportError as e:
            results["onnx"] = {"skipped": str(e)}
    if draw:
        try:
            from .visualize import visualize_model

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                visualize_model(din_model, save_dir=str(out / "visualization"), model_name="din")
            results["graph"] = {"dir": str(out / "visualization"),
                                "note": "; ".join(str(w.message) for w in caught) or "PNG and SVG written"}
        except ImportError as e:
            results["graph"] = {"skipped": str(e)}
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    _write_atomic(out / "results.json", json.dumps(results, indent=2, default=float))
    if verbose:
        print()
        print(_format_table({k: v for k, v in results["models"].items()}))
        gain = {m: "n/a (BaseModel at chance)" if v is None else f"{v:.1f}%"
                for m, v in (("GAUC", results["rela_impr_gauc_percent"]), ("AUC", results["rela_impr_auc_percent"]))}
        print(f"RelaImpr of DIN over BaseModel: {gain['GAUC']} (GAUC), {gain['AUC']} (AUC)")
        if "onnx" in results and "max_abs_diff" in results["onnx"]:
            print(f"ONNX: {results['onnx']['path']} (max |ONNX - PyTorch| = {results['onnx']['max_abs_diff']:.1e} "
                  f"at {len(results['onnx']['shapes'])} shapes)")
        if "graph" in results:
            print(f"model graph: {results['graph'].get('dir', results['graph'].get('skipped'))}")
        print(f"artifacts in {out.resolve()} (results.json); total {results['total_seconds']} s")
    D.barrier()
    return results


def _write_atomic(file: Path, text: str) -> None:
    """Write to a temporary file beside ``file``, then rename: a reader never sees half a file."""
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(text)
    tmp.replace(file)
