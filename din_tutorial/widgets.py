"""What the notebooks' widgets draw: attention over one user's history, and the Dice curve.

The functions here are plain and unit-tested (tests/test_widgets.py); a notebook wraps them in
:func:`explore` (``ipywidgets.interact``'s job, with the first view drawn without capturing output, so that
headless runners do not hang on it).

* :func:`attention_for` runs a DIN on ONE user's sample (from a frame of
  :func:`~din_tutorial.data.generate_seq_feature`, e.g. the test split), optionally with another
  candidate item, and returns the weights over the real behaviours with their items, categories
  and (given a ``cate_id -> theme`` map, the synthetic data's ground truth) whether each
  behaviour shares the candidate's theme. :func:`plot_user_attention` draws it with
  :func:`~din_tutorial.visualize.plot_attention`; :func:`attention_figure` draws the user's real
  next item beside the sampled negative (the same history, two candidates: local activation).
  :func:`user_options` gives a Dropdown's choices.
* :func:`dice_sliders` and :func:`plot_dice` are the sliders and the figure of notebook 04
  (:func:`~din_tutorial.visualize.plot_dice_vs_prelu`).

Taught in notebooks/03_activation_unit.ipynb (attention) and notebooks/04_dice.ipynb (Dice).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .features import PAD_ID

__all__ = [
    "UserAttention",
    "sample_batch",
    "attention_for",
    "plot_user_attention",
    "attention_figure",
    "user_options",
    "dice_sliders",
    "plot_dice",
    "explore",
]


@dataclass
class UserAttention:
    """The activation unit's weights over one user's history for one candidate (padding removed).

    ``items``, ``cates``, ``weights`` (and ``themes``) are ``(n,)`` arrays over the ``n`` real
    behaviours, oldest first. ``themes`` and ``candidate_theme`` are ``None`` without a theme map;
    a category missing from the map gets theme -1. ``label`` is the frame's label for that row, or
    ``None`` when the candidate was replaced.
    """

    user_id: int
    candidate_item: int
    candidate_cate: int
    label: int | None
    probability: float
    items: np.ndarray
    cates: np.ndarray
    weights: np.ndarray
    themes: np.ndarray | None = None
    candidate_theme: int | None = None

    @property
    def same_theme(self) -> np.ndarray | None:
        """``(n,)`` bool: the behaviour shares the candidate's theme (``None`` without a theme map)."""
        if self.themes is None or self.candidate_theme is None:
            return None
        return (self.themes == self.candidate_theme) & (self.themes >= 0)

    def theme_share(self) -> float:
        """Share of the attention mass ``sum |w|`` on behaviours of the candidate's theme (NaN if none).

        Magnitudes, because without softmax the weights' sign is the model's choice.
        """
        same = self.same_theme
        total = float(np.abs(self.weights).sum())
        if same is None or total == 0.0:
            return float("nan")
        return float(np.abs(self.weights[same]).sum() / total)

    def to_frame(self) -> pd.DataFrame:
        """One row per behaviour: ``item_id, cate_id, weight`` (and ``theme, same_theme``)."""
        out = pd.DataFrame({"item_id": self.items, "cate_id": self.cates, "weight": self.weights})
        if self.themes is not None:
            out["theme"] = self.themes
            out["same_theme"] = self.same_theme
        return out


def _lookup(mapping, ids: np.ndarray, missing: int = -1) -> np.ndarray:
    """``mapping[id]`` for each id (a Series, a dict or an array indexed by id); ``missing`` where absent."""
    ids = np.asarray(ids, dtype=np.int64)
    if isinstance(mapping, pd.Series):
        return mapping.reindex(ids).fillna(missing).to_numpy(dtype=np.int64)
    if isinstance(mapping, Mapping):
        return np.array([int(mapping.get(int(i), missing)) for i in ids], dtype=np.int64)
    table = np.asarray(mapping, dtype=np.int64)
    inside = (ids >= 0) & (ids < len(table))
    return np.where(inside, table[np.clip(ids, 0, max(len(table) - 1, 0))], missing)


def _user_row(frame: pd.DataFrame, user_id: int, label: int | None) -> pd.Series:
    rows = frame[frame["user_id"] == user_id]
    if label is not None and "label" in frame:
        rows = rows[rows["label"] == label]
    if rows.empty:
        what = f" with label {label}" if label is not None else ""
        raise ValueError(f"user {user_id} has no row{what} in this frame (it holds {frame['user_id'].nunique()} users); "
                         f"pick one of user_options(frame)")
    if "timestamp" in rows:
        rows = rows.sort_values("timestamp", kind="stable")
    return rows.iloc[-1]  # the latest sample: in the test split, the user's last behaviour


def sample_batch(
    frame: pd.DataFrame,
    user_id: int,
    candidate_item: int | None = None,
    item_cate=None,
    label: int | None = 1,
) -> dict[str, torch.Tensor]:
    """A batch of ONE sample: the user's row of ``frame`` (the latest with ``label``), as the model reads it.

    With ``candidate_item`` the target is replaced by that item and its category
    (``item_cate``: a ``item_id -> cate_id`` Series, dict or array); the history stays the same.
    """
    row = _user_row(frame, int(user_id), label)
    x = {}
    for col, value in row.items():
        if col == "label":
            continue
        if isinstance(value, np.ndarray):
            x[col] = torch.as_tensor(value.astype(np.int64)).unsqueeze(0)  # (1, seq_len)
        elif isinstance(value, (int, np.integer)):
            x[col] = torch.tensor([int(value)], dtype=torch.int64)
        elif isinstance(value, (float, np.floating)):
            x[col] = torch.tensor([float(value)], dtype=torch.float32)
    if candidate_item is not None:
        if item_cate is None:
            raise ValueError("to try another candidate, pass item_cate (item_id -> cate_id), e.g. "
                             "data.drop_duplicates('item_id').set_index('item_id')['cate_id']")
        cate = int(_lookup(item_cate, [candidate_item])[0])
        if cate < 0:
            raise ValueError(f"item {candidate_item} has no category in item_cate")
        x["item_id"] = torch.tensor([int(candidate_item)], dtype=torch.int64)
        x["cate_id"] = torch.tensor([cate], dtype=torch.int64)
    return x


def attention_for(
    model,
    frame: pd.DataFrame,
    user_id: int,
    candidate_item: int | None = None,
    item_cate=None,
    cate_theme=None,
    label: int | None = 1,
    pair: int = 0,
) -> UserAttention:
    """The weights of ``model`` (a DIN) over user ``user_id``'s history, for one candidate.

    Args:
        model: a DIN (its :meth:`~din_tutorial.models.DIN.attention_weights` is used, in eval mode;
            the model's mode is restored afterwards).
        frame: samples from ``generate_seq_feature`` (e.g. ``prepared.test``).
        user_id: whose latest sample with ``label`` to take (``label=1``: the real next item;
            ``0``: a sampled negative; ``None``: whichever is latest).
        candidate_item: another candidate for the same history (needs ``item_cate``).
        item_cate: ``item_id -> cate_id`` (Series, dict or array).
        cate_theme: ``cate_id -> theme`` (e.g. :func:`din_tutorial.datasets.category_theme`), to mark
            the behaviours that share the candidate's theme.
        pair: with ``attention_mode="per_feature"``, which history/target pair's weights to return.
    """
    x = sample_batch(frame, user_id, candidate_item, item_cate, label)
    x = {k: v for k, v in x.items() if k in model.input_names}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            w = model.attention_weights(x)  # (1, L) or (1, pairs, L)
            prob = float(model(x)[0])
    finally:
        model.train(was_training)
    if w.dim() == 3:
        w = w[:, pair]
    hist_items = x[model.history_features[0].name][0].numpy()
    real = hist_items != PAD_ID
    pairs = {t.name: h.name for t, h in zip(model.target_features, model.history_features)}
    cates_name = pairs.get("cate_id")  # the history feature paired with the candidate's category
    cates = x[cates_name][0].numpy()[real] if cates_name else np.full(int(real.sum()), -1, dtype=np.int64)
    cand_cate = int(x["cate_id"][0]) if "cate_id" in x else -1
    themes = cand_theme = None
    if cate_theme is not None:
        themes = _lookup(cate_theme, cates)
        cand_theme = int(_lookup(cate_theme, [cand_cate])[0])
    label_out = None
    if candidate_item is None:
        row = _user_row(frame, int(user_id), label)
        label_out = int(row["label"]) if "label" in row else None
    return UserAttention(
        user_id=int(user_id),
        candidate_item=int(x["item_id"][0]),
        candidate_cate=cand_cate,
        label=label_out,
        probability=prob,
        items=hist_items[real].astype(np.int64),
        cates=cates.astype(np.int64),
        weights=w[0].numpy()[real].astype(np.float64),
        themes=themes,
        candidate_theme=cand_theme,
    )


def _describe(att: UserAttention) -> str:
    kind = {1: "the real next item", 0: "a sampled negative", None: "a chosen item"}.get(att.label, "candidate")
    text = f"user {att.user_id}, candidate {att.candidate_item} ({kind}): p(click) = {att.probability:.2f}"
    share = att.theme_share()
    if not np.isnan(share):
        text += f"\n{100 * share:.0f}% of sum|w| on its theme ({int(att.same_theme.sum())} of {len(att.weights)} behaviours)"
    return text


def plot_user_attention(att: UserAttention, ax=None):
    """Bars of ``att``'s weights, behaviours of the candidate's theme in orange; returns the figure."""
    from .visualize import plot_attention

    return plot_attention(att.weights, highlight=att.same_theme, title=_describe(att), ax=ax)


def attention_figure(model, frame: pd.DataFrame, user_id: int, cate_theme=None):
    """Two panels for one user: the weights for the real next item and for the sampled negative.

    Same history, two candidates: the weights change with the candidate (local activation).
    Users without a negative row get one panel.
    """
    import matplotlib.pyplot as plt

    atts = [attention_for(model, frame, user_id, cate_theme=cate_theme, label=1)]
    if "label" in frame and ((frame["user_id"] == user_id) & (frame["label"] == 0)).any():
        atts.append(attention_for(model, frame, user_id, cate_theme=cate_theme, label=0))
    n = len(atts[0].weights)
    fig, axes = plt.subplots(len(atts), 1, figsize=(max(7.0, 0.22 * n + 2.5), 3.0 * len(atts)), squeeze=False)
    lim = max(float(np.abs(a.weights).max()) for a in atts) * 1.1 or 1.0
    for att, ax in zip(atts, axes[:, 0]):
        plot_user_attention(att, ax=ax)
        ax.set_ylim(-lim, lim)  # one scale for both candidates
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def user_options(
    frame: pd.DataFrame,
    n: int = 12,
    min_history: int = 10,
    seed: int = 0,
    cate_theme=None,
    min_same: int = 0,
) -> list[tuple[str, int]]:
    """Choices for a Dropdown: ``(label, user_id)`` for ``n`` users with at least ``min_history`` behaviours.

    Users are drawn at random (``seed``) among those whose positive row has that many behaviours
    and, given ``cate_theme`` (``cate_id -> theme``), at least ``min_same`` behaviours in the theme
    of their real next item; sorted by id. Labels read "user 12 (45 behaviours)". If no user
    qualifies, every user is eligible.
    """
    rows = frame[frame["label"] == 1] if "label" in frame else frame
    rows = rows.sort_values("timestamp", kind="stable") if "timestamp" in rows else rows
    rows = rows.groupby("user_id").tail(1).set_index("user_id")  # each user's latest positive
    keep = rows["hist_len"] >= min_history
    if cate_theme is not None and min_same > 0:
        same = [
            int((_lookup(cate_theme, np.asarray(h)[: int(n_)]) == _lookup(cate_theme, [c])[0]).sum())
            for h, n_, c in zip(rows["hist_cate_id"], rows["hist_len"], rows["cate_id"])
        ]
        keep &= np.asarray(same) >= min_same
    eligible = rows.loc[keep, "hist_len"] if keep.any() else rows["hist_len"]
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(eligible.index.to_numpy(), size=min(n, len(eligible)), replace=False))
    return [(f"user {int(u)} ({int(eligible[u])} behaviours)", int(u)) for u in picked]


# ---------------------------------------------------------------------------- Dice (notebook 04)
def dice_sliders(alpha: float = 0.25, mean: float = 0.0, var: float = 1.0) -> dict:
    """``FloatSlider``s for ``alpha``, ``E[s]`` and ``Var[s]`` (``continuous_update=False``), keyed as
    :func:`plot_dice`'s arguments, for ``ipywidgets.interact(show, **dice_sliders())``."""
    import ipywidgets as widgets

    common = {"continuous_update": False, "readout_format": ".2f", "style": {"description_width": "60px"}}
    return {
        "alpha": widgets.FloatSlider(value=alpha, min=-0.5, max=1.0, step=0.05, description="alpha", **common),
        "mean": widgets.FloatSlider(value=mean, min=-3.0, max=3.0, step=0.1, description="E[s]", **common),
        "var": widgets.FloatSlider(value=var, min=0.0, max=4.0, step=0.05, description="Var[s]", **common),
    }


def plot_dice(alpha: float = 0.25, mean: float = 0.0, var: float = 1.0):
    """Dice with the given statistics beside PReLU and ReLU (:func:`~din_tutorial.visualize.plot_dice_vs_prelu`)."""
    from .visualize import plot_dice_vs_prelu

    if var < 0:
        raise ValueError(f"Var[s] cannot be negative, got {var}")
    return plot_dice_vs_prelu(alpha=float(alpha), mean=float(mean), var=float(var))


# ---------------------------------------------------------------------------- the controls
def explore(draw, **controls):
    """Show ``controls`` (ipywidgets) above an ``Output`` holding ``draw(**values)``'s figure; redraw on a change.

    What ``ipywidgets.interact(draw, **controls)`` does, with one difference: the first figure is put
    into the Output as a PNG (``Output.append_display_data``), not drawn inside ``with output:``. Inside
    that block the Output captures the cell's own messages, and headless runners (nbconvert and nbmake,
    through nbclient) then mirror the capture back to the kernel while they wait for the cell to end,
    which now and then never happens (jupyter/nbclient#312, jupyter/nbconvert#2029; seen on notebooks 03
    and 04). A change of a control needs a person, so redraws use ``with output:`` as interact does.
    ``draw`` draws one matplotlib figure and returns it (as :func:`attention_figure` and :func:`plot_dice`
    do); it does not call ``plt.show()``. Returns the Output.
    """
    import io

    import ipywidgets
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    out = ipywidgets.Output()

    def values() -> dict:
        return {name: w.value for name, w in controls.items()}

    def redraw(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            draw(**values())
            plt.show()

    for w in controls.values():
        w.observe(redraw, names="value")
    display(ipywidgets.VBox([*controls.values(), out]))
    fig = draw(**values())
    png = io.BytesIO()
    fig.savefig(png, format="png", bbox_inches="tight")
    plt.close(fig)  # shown in the Output only, not also under the cell
    out.append_display_data(Image(png.getvalue()))
    return out
