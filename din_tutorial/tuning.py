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
from pathlib import Path

import pandas as pd

__all__ = ["ABLATIONS", "ABLATION_BASE", "ABLATION_SEEDS", "NOTEBOOK_ABLATION_SCALE", "notebook_ablation_scale", "DEFAULT_ATTENTION_DIMS", "DEFAULT_MAX_LENS", "ablation_settings",
           "evaluate_test_gauc", "plot_tuning", "run_ablation", "summarize_ablation", "tuning_grid"]

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


# ---------------------------------------------------------------------------- ablations
#: The notebooks' small DIN (notebooks 03 and 04): the seed's sizes with PReLU, so that Dice is one switch away.
ABLATION_BASE = {
    "mlp_params": {"dims": [256, 128], "dropout": 0.2, "activation": "prelu"},
    "attention_mlp": {"dims": [32, 16], "dropout": 0.2, "activation": "prelu", "use_softmax": False},
    "attention_mode": "group",
}

#: Each ablation: ``{label: overrides of ABLATION_BASE}``; the first label is the baseline of its comparison.
ABLATIONS = {
    "softmax": {
        "no softmax (paper)": {},
        "masked softmax": {"attention_mlp": {"use_softmax": True}},
    },
    "attention_mode": {
        "goods group (one unit)": {},
        "per feature (two units)": {"attention_mode": "per_feature"},
    },
    "activation": {
        "PReLU": {},
        "Dice": {"mlp_params": {"activation": "dice"}, "attention_mlp": {"activation": "dice"}},
    },
}

#: Three seeds: the fewest that give an interval; each seed sets the initialisation, dropout and shuffling.
ABLATION_SEEDS = (2022, 2023, 2024)


def ablation_settings(overrides: dict | None = None, base: dict | None = None) -> dict:
    """``base`` (default :data:`ABLATION_BASE`) with ``overrides`` merged one level deep: DIN's keyword arguments."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or ABLATION_BASE).items()}
    for key, value in (overrides or {}).items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def evaluate_test_gauc(model, prepared) -> float:
    """The test split's GAUC of a trained model (eval mode, the whole split as one pass of the loader)."""
    import numpy as np
    import torch

    from .metrics import gauc

    model.eval()
    preds, labels, users = [], [], []
    with torch.no_grad():
        for x, y in prepared.test_dl:
            preds.append(model({k: x[k] for k in model.input_names}).numpy())
            labels.append(y.numpy())
            users.append(x["user_id"].numpy())
    return gauc(np.concatenate(labels), np.concatenate(preds), np.concatenate(users))


def run_ablation(prepared, variants: dict, seeds: Sequence[int] = ABLATION_SEEDS, n_epoch: int = 3,
                 base: dict | None = None, cache_dir: str | None = "saved/tutorial_models") -> pd.DataFrame:
    """Train DIN once per (variant, seed) on ``prepared`` and return one row per run.

    ``variants`` is ``{label: overrides}`` (see :data:`ABLATIONS`); the data and its split stay the
    same, the seed changes the model's initialisation, dropout and the order of the batches. Models
    come from :func:`din_tutorial.pipeline.load_or_train`, so a run already trained with the same
    settings (in this notebook, another notebook or an earlier session) is loaded from ``cache_dir``;
    ``cache_dir=None`` trains every run afresh in a scratch folder (the benchmark does, to time them).
    Columns: ``variant``, ``seed``, ``test_gauc``, ``val_gauc`` (the kept epoch's), ``epochs_run``,
    ``seconds`` (training and evaluation; near 0 for a cached run), ``cached``.
    Taught in notebooks/03_activation_unit.ipynb and notebooks/04_dice.ipynb.
    """
    from .pipeline import load_or_train

    rows = []
    for label, overrides in variants.items():
        settings = ablation_settings(overrides, base)
        for seed in seeds:
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="din-ablation-") as scratch:
                folder = Path(cache_dir or scratch)
                before = set(folder.glob("din-*")) if folder.is_dir() else set()
                model, history = load_or_train("din", prepared, n_epoch=n_epoch, seed=int(seed),
                                               cache_dir=folder, **settings)
                cached = cache_dir is not None and not (set(folder.glob("din-*")) - before)  # no new model folder
                gauc_test = evaluate_test_gauc(model, prepared)
            best = max(history, key=lambda h: h["val_auc"])  # the epoch the trainer kept
            rows.append({"variant": label, "seed": int(seed), "test_gauc": gauc_test, "val_gauc": best["val_gauc"],
                         "epochs_run": len(history), "seconds": time.perf_counter() - start, "cached": cached})
    return pd.DataFrame(rows)


def summarize_ablation(runs: pd.DataFrame, metric: str = "test_gauc", level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval of ``metric`` per variant, and of the paired difference to the first variant.

    The runs of two variants with the same seed share everything but the variant (data, split, batch
    order, initial draws where the shapes agree), so the difference is taken seed by seed and its
    interval is Student's t over the seeds (``level``, two-sided). With 3 seeds t is 4.30: an
    interval that excludes 0 is a large, consistent effect; one that includes it says "not shown here".
    """
    import numpy as np
    from scipy import stats

    order = list(dict.fromkeys(runs["variant"]))
    wide = runs.pivot(index="seed", columns="variant", values=metric)[order]
    rows = {}
    for label in order:
        values = wide[label].dropna().to_numpy()
        diff = (wide[label] - wide[order[0]]).dropna().to_numpy()
        n = len(values)
        t = stats.t.ppf(0.5 + level / 2, n - 1) if n > 1 else float("nan")
        half = t * values.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
        dhalf = t * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        rows[label] = {"seeds": n, "mean": values.mean(), "low": values.mean() - half, "high": values.mean() + half,
                       "diff": diff.mean(), "diff_low": diff.mean() - dhalf, "diff_high": diff.mean() + dhalf}
    out = pd.DataFrame(rows).T
    out["seeds"] = out["seeds"].astype(int)
    return out

#: The scale of the notebooks' ablations (users of the bundled sample, epochs, batch size, seeds). In full mode
#: notebook 03's trained DIN is the first seed of the baseline, so the table costs eight more runs there. Fast
#: mode (CI) runs two seeds: an interval still (t factor 12.7), at two thirds of the cost.
NOTEBOOK_ABLATION_SCALE = {
    "fast": {"n_users": 400, "n_epoch": 1, "batch_size": 256, "seeds": ABLATION_SEEDS[:2]},
    "full": {"n_users": 1000, "n_epoch": 3, "batch_size": 256, "seeds": ABLATION_SEEDS},
}


def notebook_ablation_scale() -> dict:
    """:data:`NOTEBOOK_ABLATION_SCALE` for the current mode (``DIN_TUTORIAL_FAST``)."""
    from .config import is_fast_mode

    return dict(NOTEBOOK_ABLATION_SCALE["fast" if is_fast_mode() else "full"])
