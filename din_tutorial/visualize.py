"""Pictures of DIN: the model graph (torchview), training curves, attention over a history, Dice.

``visualize_model`` draws the computation graph with torchview, names the inputs after the
features and saves PNG and SVG through Graphviz's ``dot``. Without ``dot`` it still saves
the DOT source and says, in one sentence, how to install Graphviz.

The plot helpers return Matplotlib figures; notebooks show them and wrap them in widgets.

Taught in notebooks/07_visualization.ipynb (graph, heat maps), notebooks/03_activation_unit.ipynb
(attention bars), notebooks/04_dice.ipynb (Dice curves) and notebooks/05_training.ipynb (curves).
"""
from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "GraphvizMissing",
    "dice_curve",
    "dice_gate",
    "plot_attention",
    "plot_dice_vs_prelu",
    "plot_training_curves",
    "visualize_model",
]


class GraphvizMissing(UserWarning):
    """Graphviz's ``dot`` program is not installed: the graph was saved as DOT source only."""


def _name_inputs(lines: Sequence[str], names: Sequence[str]) -> list[str]:
    """torchview labels every input 'input-tensor'; label them with the feature names, in order."""
    it = iter(names)

    def repl(m: re.Match) -> str:
        name = next(it, None)
        return m.group(0) if name is None else m.group(0).replace("input-tensor", name)

    return [re.sub(r"<TD>input-tensor<BR/>depth:0</TD>", repl, line) for line in lines]


def visualize_model(
    model: torch.nn.Module,
    save_dir: str = "./visualization",
    model_name: str = "model",
    input_data: Mapping[str, torch.Tensor] | None = None,
    depth: int = 2,
    formats: Sequence[str] = ("png", "svg"),
    batch_size: int = 2,
    seq_len: int = 5,
):
    """Draw ``model``'s computation graph with torchview and save it under ``save_dir``.

    Inputs are shown with the feature names (``user_id``, ``hist_item_id``, ...). Writes
    ``<model_name>.gv`` (DOT source) always and ``<model_name>.png`` / ``.svg`` when Graphviz's
    ``dot`` is installed; returns the torchview graph (displayed inline in a notebook).

    Args:
        model: DIN or BaseModel (anything with ``input_names``).
        save_dir: folder for the files (created).
        model_name: file stem and graph title.
        input_data: an example batch; a small random valid one by default.
        depth: how deep into nested modules to draw (2 shows the activation unit and the MLP).
        formats: image formats to render.
    """
    try:
        from torchview import draw_graph
    except ImportError as e:
        raise ImportError("visualize_model needs torchview: pip install 'din-tutorial[notebooks]'") from e
    from .export import PositionalInputs, example_batch

    names = list(getattr(model, "input_names", []) or [])
    if not names:
        raise ValueError("visualize_model needs a model with input_names (DIN or BaseModel)")
    out = Path(save_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = input_data if input_data is not None else example_batch(model, batch_size=batch_size, seq_len=seq_len)
    device = next(model.parameters()).device
    args = [x[n].to(device) for n in names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            graph = draw_graph(
                PositionalInputs(model, names), input_data=args, graph_name=model_name, depth=depth,
                expand_nested=True, hide_inner_tensors=True, device=device, save_graph=False,
            )
    finally:
        model.train(was_training)
    visual = graph.visual_graph
    visual.body[:] = _name_inputs(visual.body, names)
    (out / f"{model_name}.gv").write_text(visual.source)
    if shutil.which("dot") is None:
        warnings.warn(
            f"Graphviz's `dot` is not installed, so only {out / (model_name + '.gv')} was written; "
            f"install it (sudo apt-get install -y graphviz, or conda install graphviz) to get PNG and SVG",
            GraphvizMissing,
            stacklevel=2,
        )
        return graph
    for fmt in formats:
        visual.render(filename=model_name, directory=str(out), format=fmt, cleanup=True)
    return graph


# ---------------------------------------------------------------------------- plots
def plot_training_curves(histories: Mapping[str, Sequence[Mapping]] | Sequence[Mapping], ax=None):
    """Training loss and validation AUC per epoch, one line per model (``{"DIN": trainer.history, ...}``)."""
    import matplotlib.pyplot as plt

    if not isinstance(histories, Mapping):
        histories = {"model": histories}
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig = ax[0].figure
    for name, hist in histories.items():
        epochs = [h["epoch"] + 1 for h in hist]
        ax[0].plot(epochs, [h["train_loss"] for h in hist], marker="o", label=name)
        if hist and "val_auc" in hist[0]:
            ax[1].plot(epochs, [h["val_auc"] for h in hist], marker="o", label=f"{name} AUC")
        if hist and "val_gauc" in hist[0]:
            ax[1].plot(epochs, [h["val_gauc"] for h in hist], marker="x", linestyle="--", label=f"{name} GAUC")
    ax[0].set(xlabel="epoch", ylabel="training log loss", title="Training loss")
    ax[1].set(xlabel="epoch", ylabel="validation", title="Validation AUC and GAUC")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig


def plot_attention(
    weights: Sequence[float] | np.ndarray | torch.Tensor,
    labels: Sequence[str] | None = None,
    highlight: Sequence[bool] | None = None,
    title: str = "Attention weight of each behaviour",
    ax=None,
):
    """Bars of the activation unit's weight per history step (padding already removed).

    ``highlight`` marks steps to colour differently, e.g. behaviours that share the
    candidate's true interest. Weights can be negative without softmax: the sign is the
    model's choice (the MLP after pooling can undo it); compare magnitudes.
    """
    import matplotlib.pyplot as plt

    w = torch.as_tensor(weights).detach().cpu().float().numpy().ravel()
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(w) + 2), 3.2))
    else:
        fig = ax.figure
    colors = ["tab:blue"] * len(w)
    if highlight is not None:
        colors = ["tab:orange" if h else "tab:blue" for h in highlight]
    ax.bar(np.arange(len(w)), w, color=colors)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="history step (oldest first)", ylabel="weight", title=title)
    if labels is not None:
        ax.set_xticks(np.arange(len(w)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
    if highlight is not None:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="tab:orange", label="same interest as the candidate"),
                           Patch(color="tab:blue", label="other interests")], fontsize=8)
    fig.tight_layout()
    return fig


def dice_gate(s: np.ndarray, mean: float, var: float, eps: float = 1e-8) -> np.ndarray:
    """Dice's gate for fixed statistics: ``p(s) = sigmoid((s - E) / sqrt(Var + eps))`` (notebooks/04_dice.ipynb)."""
    z = (np.asarray(s, dtype=np.float64) - mean) / np.sqrt(var + eps)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the sigmoid, written so that it cannot overflow (Var = 0)


def dice_curve(s: np.ndarray, alpha: float, mean: float, var: float, eps: float = 1e-8) -> np.ndarray:
    """The paper's Dice for fixed statistics: ``p(s) s + (1 - p(s)) alpha s``, ``p = sigmoid((s - E) / sqrt(Var + eps))``."""
    s = np.asarray(s, dtype=np.float64)
    p = dice_gate(s, mean, var, eps)
    return p * s + (1 - p) * alpha * s


def plot_dice_vs_prelu(alpha: float = 0.25, mean: float = 0.0, var: float = 1.0, ax=None, s_range=(-4.0, 4.0)):
    """Dice with the given statistics beside PReLU (same alpha) and ReLU, and Dice's gate p(s)."""
    import matplotlib.pyplot as plt

    s = np.linspace(*s_range, 401)
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig = ax[0].figure
    ax[0].plot(s, dice_curve(s, alpha, mean, var), label=f"Dice (E={mean:g}, Var={var:g})", linewidth=2)
    ax[0].plot(s, np.where(s > 0, s, alpha * s), label=f"PReLU (alpha={alpha:g})", linestyle="--")
    ax[0].plot(s, np.maximum(s, 0), label="ReLU", linestyle=":")
    ax[0].set(xlabel="s", ylabel="f(s)", title="Dice against PReLU and ReLU")
    ax[1].plot(s, dice_gate(s, mean, var), label="Dice p(s)", linewidth=2)
    ax[1].plot(s, (s > 0).astype(float), label="PReLU's step", linestyle="--")
    ax[1].axvline(mean, color="gray", linewidth=0.8)
    ax[1].set(xlabel="s", ylabel="p(s)", title="The gate: smooth, centred on E[s]")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- attention maps, embeddings
# Added for notebooks/07_visualization.ipynb.
def _as_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def attention_mass_share(weights, mask, same) -> np.ndarray:
    """Per row, the share of the attention *mass* ``|w|`` that falls on the steps marked ``same``.

    ``share_i = sum_j |w_ij| m_ij s_ij / sum_j |w_ij| m_ij`` over the real steps (``mask`` True);
    rows without any mass give NaN. Magnitudes, because without softmax a weight's sign is the
    model's choice. With ``weights`` all equal it is the share of *steps* marked ``same``.

    Args:
        weights: ``(rows, seq_len)`` attention weights (any values on padded steps: they are ignored).
        mask: ``(rows, seq_len)`` bool, True on real behaviours.
        same: ``(rows, seq_len)`` bool, e.g. "this behaviour shares the candidate's theme".

    Taught in notebooks/07_visualization.ipynb (used in 05 and 06 as well).
    """
    w = np.abs(_as_numpy(weights).astype(np.float64))
    m = _as_numpy(mask).astype(bool)
    s = _as_numpy(same).astype(bool)
    if not (w.shape == m.shape == s.shape):
        raise ValueError(f"weights, mask and same must have one shape, got {w.shape}, {m.shape}, {s.shape}")
    total = (w * m).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w * m * s).sum(axis=-1) / np.where(total > 0, total, 1.0), np.nan)


def plot_attention_heatmap(
    weights,
    mask,
    highlight=None,
    row_labels: Sequence[str] | None = None,
    title: str = "Attention |w| over the history",
    absolute: bool = True,
    ax=None,
):
    """A heat map of attention weights, one row per (user, candidate) pair, one column per history step.

    Padded steps are drawn light grey; ``highlight`` (same shape, bool) puts a white dot on the
    steps to point at, e.g. behaviours that share the candidate's true theme. With
    ``absolute=True`` the colour is ``|w|`` (the sign is arbitrary without softmax).

    Taught in notebooks/07_visualization.ipynb.
    """
    import matplotlib.pyplot as plt

    w = _as_numpy(weights).astype(np.float64)
    m = _as_numpy(mask).astype(bool)
    if w.ndim != 2 or w.shape != m.shape:
        raise ValueError(f"weights and mask must be (rows, seq_len) of one shape, got {w.shape} and {m.shape}")
    values = np.ma.masked_array(np.abs(w) if absolute else w, mask=~m)
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(14, 2 + 0.22 * w.shape[1]), 1.2 + 0.32 * w.shape[0]))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("viridis" if absolute else "coolwarm").copy()
    cmap.set_bad("#e8e8e8")
    kw = {}
    if not absolute:
        lim = float(np.abs(values).max()) if values.count() else 1.0
        kw = {"vmin": -lim, "vmax": lim}
    image = ax.imshow(values, aspect="auto", cmap=cmap, interpolation="nearest", **kw)
    fig.colorbar(image, ax=ax, label="|w|" if absolute else "w", fraction=0.03, pad=0.01)
    if highlight is not None:
        h = _as_numpy(highlight).astype(bool) & m
        rows, cols = np.nonzero(h)
        ax.scatter(cols, rows, s=9, c="white", edgecolors="black", linewidths=0.4,
                   label="same theme as the candidate")
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, 1.0 + 2.2 / max(4, w.shape[0] + 3)), fontsize=8,
                  frameon=False)
    ax.set(xlabel="history step (oldest first; grey = padding)", title=title)
    if row_labels is not None:
        ax.set_yticks(np.arange(len(row_labels)))
        ax.set_yticklabels(row_labels, fontsize=8)
    fig.tight_layout()
    return fig


def plot_embedding_2d(points, groups, top: int = 8, title: str = "", ax=None, group_name: str = "theme"):
    """Scatter 2-D points coloured by group: the ``top`` largest groups in colour, the rest in light grey.

    ``points``: ``(n, 2)``; ``groups``: ``(n,)`` labels (e.g. each item's theme). Returns the figure.
    Taught in notebooks/07_visualization.ipynb.
    """
    import matplotlib.pyplot as plt

    p = _as_numpy(points)
    g = _as_numpy(groups)
    if p.ndim != 2 or p.shape[1] != 2 or len(g) != len(p):
        raise ValueError(f"points must be (n, 2) and groups (n,), got {p.shape} and {g.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
    else:
        fig = ax.figure
    labels, counts = np.unique(g, return_counts=True)
    shown = labels[np.argsort(-counts, kind="stable")[:top]]
    rest = ~np.isin(g, shown)
    ax.scatter(p[rest, 0], p[rest, 1], s=4, c="#d0d0d0", label="other", rasterized=True)
    # qualitative colours without the greys (grey means "other")
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]
    if top > len(palette):
        palette = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
    for i, label in enumerate(shown):
        sel = g == label
        ax.scatter(p[sel, 0], p[sel, 1], s=9, color=palette[i % len(palette)], label=f"{group_name} {label}")
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(fontsize=7, markerscale=1.5, loc="best", framealpha=0.8)
    fig.tight_layout()
    return fig


def neighbour_agreement(vectors, groups, k: int = 10, metric: str = "cosine") -> float:
    """Share of each point's ``k`` nearest neighbours (in the full space) that are in its group, averaged.

    A number for "do points of one group cluster?": compare it with the chance level
    ``sum_g (n_g / n) * (n_g - 1) / (n - 1)``, which :func:`chance_agreement` returns.
    Taught in notebooks/07_visualization.ipynb.
    """
    from sklearn.neighbors import NearestNeighbors

    v = _as_numpy(vectors).astype(np.float64)
    g = _as_numpy(groups)
    if len(v) != len(g) or len(v) <= k:
        raise ValueError(f"need more than k={k} points and one group per point, got {len(v)} and {len(g)}")
    nn_ = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(v)
    idx = nn_.kneighbors(v, return_distance=False)[:, 1:]  # drop the point itself
    return float((g[idx] == g[:, None]).mean())


def chance_agreement(groups) -> float:
    """The :func:`neighbour_agreement` of randomly placed points with these group sizes."""
    g = _as_numpy(groups)
    n = len(g)
    _, counts = np.unique(g, return_counts=True)
    return float((counts * (counts - 1)).sum() / (n * (n - 1))) if n > 1 else float("nan")


__all__ += [
    "attention_mass_share",
    "chance_agreement",
    "neighbour_agreement",
    "plot_attention_heatmap",
    "plot_embedding_2d",
]
