"""The seed's tuning suggestions as a small experiment: history length, then the attention MLP.

The seed tutorial (section 6) says: try history lengths of 20, 50 or 100, and tune the
attention MLP before enlarging the final MLP. :func:`tuning_grid` changes one setting at a
time around the seed's configuration (``max_len=50``, attention ``[32, 16]``) and reports the
validation and test GAUC of each DIN, its size and its training time, so a learner sees what
each knob buys on the data at hand. :func:`plot_tuning` draws the table.

Taught in notebooks/05_training.ipynb.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

import pandas as pd

__all__ = ["DEFAULT_ATTENTION_DIMS", "DEFAULT_MAX_LENS", "plot_tuning", "tuning_grid"]

#: The seed's suggestion: "Try sequence lengths such as 20, 50, or 100 depending on your data."
DEFAULT_MAX_LENS = (20, 50, 100)
#: Attention MLPs from smaller to larger than the seed's [32, 16].
DEFAULT_ATTENTION_DIMS = ((16,), (32, 16), (64, 32))

_BASE_MAX_LEN = 50


def _check_values(name: str, values, example: str) -> list:
    values = list(values)
    if not values:
        raise ValueError(f"tuning_grid: {name} is empty; give at least one value, e.g. {name}={example}")
    return values


def tuning_grid(data: pd.DataFrame, max_lens: Sequence[int] = DEFAULT_MAX_LENS,
                attention_dims: Sequence[Sequence[int]] = DEFAULT_ATTENTION_DIMS, n_epoch: int = 2,
                seed: int = 2022, batch_size: int = 2048, device: str = "cpu", verbose: bool = False) -> pd.DataFrame:
    """Train one DIN per setting, changing one knob at a time; return a row per run.

    The history length runs use the seed's attention MLP ``[32, 16]``; the attention runs use
    ``max_len=50`` (or the first of ``max_lens`` if 50 is not among them). The shared
    configuration is trained once and appears in both groups.

    Returns a DataFrame with columns ``knob`` ("max_len" or "attention_mlp"), ``value`` (a
    label such as ``"50"`` or ``"[32, 16]"``), ``val_gauc`` (the best epoch's), ``test_auc``,
    ``test_gauc``, ``params`` (the model's trainable parameters), ``train_seconds``,
    ``padding_share`` (the share of padded history steps at that length). ``val_gauc`` is the
    validation GAUC of the epoch the trainer kept (the best validation AUC), the epoch whose
    weights give the test figures. Each model starts from ``seed``: the same rows whatever the
    order of the runs.
    """
    from .config import seed_everything
    from .pipeline import SEED_ATTENTION_MLP, build_model, prepare, train_and_evaluate

    base_attention = tuple(SEED_ATTENTION_MLP["dims"])
    max_lens = [int(m) for m in _check_values("max_lens", max_lens, "(20, 50, 100)")]
    if any(m < 1 for m in max_lens):
        raise ValueError(f"tuning_grid: max_lens must be positive history lengths, got {max_lens}")
    attention_dims = [tuple(int(d) for d in dims) for dims in
                      _check_values("attention_dims", attention_dims, "((16,), (32, 16))")]
    if any(not dims or min(dims) < 1 for dims in attention_dims):
        raise ValueError(f"tuning_grid: each attention_dims entry needs positive layer sizes, got {attention_dims}")
    base_len = _BASE_MAX_LEN if _BASE_MAX_LEN in max_lens else max_lens[0]
    base_att = base_attention if base_attention in attention_dims else attention_dims[0]

    runs = [("max_len", m, base_att) for m in max_lens]
    runs += [("attention_mlp", base_len, dims) for dims in attention_dims]
    prepared, results, rows = {}, {}, []
    for knob, max_len, dims in runs:
        key = (max_len, dims)
        if key not in results:
            if max_len not in prepared:
                prepared[max_len] = prepare(data, max_len=max_len, batch_size=batch_size, seed=seed)
            p = prepared[max_len]
            attention = {**SEED_ATTENTION_MLP, "dims": list(dims)}
            seed_everything(seed)  # each model's initialisation, independent of the runs before it
            model = build_model("din", p.vocab, attention_mlp=attention)
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="din-tuning-") as scratch:  # checkpoints are not kept
                trainer, metrics = train_and_evaluate(model, p, n_epoch=n_epoch, device=device, seed=seed,
                                                      verbose=verbose, model_path=scratch)
            hist = p.train_dl.x["hist_item_id"]
            results[key] = {
                "val_gauc": trainer.history[trainer.best_epoch]["val_gauc"],  # the kept epoch's, not the maximum
                "test_auc": metrics["auc"],
                "test_gauc": metrics["gauc"],
                "params": sum(t.numel() for t in model.parameters() if t.requires_grad),
                "train_seconds": time.perf_counter() - start,
                "padding_share": float((hist < 0).float().mean()),
            }
        value = str(max_len) if knob == "max_len" else str(list(dims))
        rows.append({"knob": knob, "value": value, **results[key]})
    return pd.DataFrame(rows)


def plot_tuning(frame: pd.DataFrame, metric: str = "test_gauc"):
    """Two panels, one per knob: ``metric`` for each value, annotated with the training time."""
    import matplotlib.pyplot as plt

    if metric not in frame.columns:
        raise ValueError(f"plot_tuning: metric {metric!r} is not a column; use one of {list(frame.columns[2:])}")
    knobs = [k for k in ("max_len", "attention_mlp") if k in set(frame["knob"])]
    fig, axes = plt.subplots(1, len(knobs), figsize=(5 * len(knobs), 3.4), squeeze=False, sharey=True)
    titles = {"max_len": "history length (max_len)", "attention_mlp": "attention MLP (dims)"}
    for ax, knob in zip(axes[0], knobs):
        part = frame[frame["knob"] == knob]
        ax.plot(range(len(part)), part[metric], "o-")
        for i, (_, row) in enumerate(part.iterrows()):
            ax.annotate(f"{row['train_seconds']:.0f} s", (i, row[metric]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=8)
        ax.set_xticks(range(len(part)), part["value"])
        ax.set_title(titles[knob])
        ax.set_xlabel(knob)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric.replace("_", " "))
    fig.tight_layout()
    return fig
