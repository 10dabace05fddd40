"""Checks for the exercises of notebooks/02_feature_definitions.ipynb.

Each ``check_*`` runs the learner's answer against the package's reference, prints what
matched and, on a mismatch, raises ExerciseFailed with a hint (never the answer).

* 02.1 ``check_brand_features``: the three feature lists for a log whose goods also carry a
  brand (item 32, category 8, brand 8, user 32, no profile columns), a variant of the seed's lists
  that the notebook shows, against a reference built here, then built into a DIN (shared tables
  checked).
* 02.2 ``check_mlp_input_width``: DIN's MLP input width from the feature lists, against the
  first ``Linear`` layer of a DIN built from them; building a model inside the answer is refused
  (the width must come from the specs).
"""
from __future__ import annotations

import contextlib

from ..features import DenseFeature, SequenceFeature, SparseFeature
from ._core import ExerciseFailed, exercise

__all__: list[str] = ["check_brand_features", "check_mlp_input_width"]

#: Two vocabularies (different sizes, so a hard-coded answer shows).
VOCABS: tuple[dict, ...] = (
    {"user_id": 50, "item_id": 120, "cate_id": 12, "gender": 2, "age": 7, "occupation": 21, "zip": 30},
    {"user_id": 600, "item_id": 6606, "cate_id": 505, "gender": 2, "age": 7, "occupation": 21, "zip": 1260},
)
#: Vocabularies of the brand log of exercise 02.1.
BRAND_VOCABS: tuple[dict, ...] = (
    {"user_id": 50, "item_id": 120, "cate_id": 12, "brand_id": 9},
    {"user_id": 600, "item_id": 6606, "cate_id": 505, "brand_id": 77},
)
#: (column, embed_dim) of the brand log's candidate, in the order the exercise lists them.
BRAND_GOODS: tuple[tuple[str, int], ...] = (("item_id", 32), ("cate_id", 8), ("brand_id", 8))
_LISTS = ("features", "target_features", "history_features")


def brand_features(vocab: dict) -> tuple[list, list, list]:
    """The reference lists of exercise 02.1 (taught in notebooks/02_feature_definitions.ipynb)."""
    features = [SparseFeature("user_id", vocab["user_id"], 32)]
    targets = [SparseFeature(col, vocab[col], dim) for col, dim in BRAND_GOODS]
    histories = [SequenceFeature(f"hist_{col}", vocab[col], dim, pooling="concat", shared_with=col)
                 for col, dim in BRAND_GOODS]
    return features, targets, histories


def _describe(f) -> dict:
    return {
        "type": type(f).__name__,
        "vocab_size": getattr(f, "vocab_size", None),
        "embed_dim": f.embed_dim,
        "pooling": getattr(f, "pooling", None),
        "shared_with": getattr(f, "shared_with", None),
    }


def _attribute_hint(list_name: str, name: str, field: str, got, want) -> str:
    if field == "type":
        return (f"{name!r} in {list_name} should be a {want}: one id per sample is a SparseFeature, "
                f"a list of ids per sample (a history) a SequenceFeature")
    if field == "vocab_size":
        return (f"{name!r} has vocab_size={got}; a feature's vocabulary is vocab[<the column whose ids it reads>], "
                f"and a history reads the same ids as its target")
    if field == "embed_dim":
        if list_name == "history_features":
            return (f"{name!r} has embed_dim={got}, but a history feature and its paired target must have the same "
                    f"embed_dim (they share one table): check the pair's sizes")
        return (f"{name!r} has embed_dim={got}; the sizes differ by column here: read them from the exercise's "
                f"table")
    if field == "pooling":
        return (f"{name!r} has pooling={got!r}; DIN's activation unit needs every behaviour, "
                f"so a history keeps all its steps: pooling='concat'")
    return (f"{name!r} has shared_with={got!r}; a history feature shares the embedding table of the target it is "
            f"paired with (so a past item and the candidate live in one embedding space)")


def _compare_lists(got: tuple, want: tuple) -> None:
    for list_name, g, w in zip(_LISTS, got, want):
        g_names = [getattr(f, "name", repr(f)) for f in g]
        w_names = [f.name for f in w]
        if g_names != w_names:
            missing = [n for n in w_names if n not in g_names]
            extra = [n for n in g_names if n not in w_names]
            if not missing and not extra:
                hint = (f"same names, another order in {list_name}: history_features and target_features are "
                        f"paired one by one; list them in the exercise's order")
            elif missing:
                hint = f"{list_name} lacks {missing}" + (f" and has {extra} that belong elsewhere" if extra else "")
            else:
                hint = f"{list_name} has {extra}, which belong to another list (or to no list)"
            raise ExerciseFailed(f"{list_name}: got {g_names}. Hint: {hint}")
        for f, ref in zip(g, w):
            if not isinstance(f, (SparseFeature, SequenceFeature, DenseFeature)):
                raise ExerciseFailed(f"{list_name} holds {f!r}. Hint: build features with SparseFeature(...) "
                                     f"and SequenceFeature(...)")
            got_d, want_d = _describe(f), _describe(ref)
            for field in ("type", "vocab_size", "embed_dim", "pooling", "shared_with"):
                if got_d[field] != want_d[field]:
                    raise ExerciseFailed(f"{list_name}: {f.name!r} differs from the reference. "
                                         f"Hint: {_attribute_hint(list_name, f.name, field, got_d[field], want_d[field])}")


@exercise("Exercise 02.1: feature lists for a log with brands")
def check_brand_features(make_brand_features) -> list[str]:
    """Compare ``make_brand_features(vocab) -> (features, target_features, history_features)`` with the reference."""
    from ..layers.embedding import FeatureConfigError
    from ..models import DIN

    lines = []
    for vocab in BRAND_VOCABS:
        out = make_brand_features(dict(vocab))
        if not isinstance(out, (tuple, list)) or len(out) != 3 or not all(isinstance(x, (list, tuple)) for x in out):
            raise ExerciseFailed(f"got {type(out).__name__}. Hint: return three lists: "
                                 f"(features, target_features, history_features)")
        got = tuple(list(x) for x in out)
        _compare_lists(got, brand_features(vocab))
        try:
            model = DIN(features=got[0], history_features=got[2], target_features=got[1])
        except FeatureConfigError as err:  # pragma: no cover - the comparison above catches these first
            raise ExerciseFailed(f"DIN refused your features: {err}. Hint: read the message, it names the fix") from None
        emb = model.embedding
        for h, t in zip(got[2], got[1]):
            if emb.table(h.name).weight is not emb.table(t.name).weight:
                raise ExerciseFailed(f"{h.name!r} and {t.name!r} got two tables. Hint: set shared_with on the history "
                                     f"feature")
        n_params = sum(t.weight.numel() for t in emb.tables.values())
        lines.append(f"vocab user/item/cate/brand = {vocab['user_id']}/{vocab['item_id']}/{vocab['cate_id']}/"
                     f"{vocab['brand_id']}: {sum(map(len, got))} features (names, types, vocab sizes, embed_dims, "
                     f"pooling, shared_with) match")
    lines.append(f"DIN built from them: {len(emb.tables)} embedding tables for {len(emb.table_names)} features "
                 f"({n_params:,} numbers); each history looks up ONE Parameter with its target; the MLP reads "
                 f"{model.mlp.layers[0][0].in_features} numbers")
    return lines


def width_cases() -> list[tuple[str, list, list, list]]:
    """Feature sets for 02.2: the seed's, one with a dense feature, one with a pooled sequence, mixed pair sizes."""
    from ..pipeline import seed_features

    vocab = VOCABS[0]
    seed = seed_features(vocab)
    item = SparseFeature("item_id", vocab["item_id"], 16)
    cate8 = SparseFeature("cate_id", vocab["cate_id"], 8)
    h_item = SequenceFeature("hist_item_id", vocab["item_id"], 16, pooling="concat", shared_with="item_id")
    h_cate8 = SequenceFeature("hist_cate_id", vocab["cate_id"], 8, pooling="concat", shared_with="cate_id")
    return [
        ("the seed's features", *seed),
        ("the seed's + DenseFeature('price')", [*seed[0], DenseFeature("price")], seed[1], seed[2]),
        ("user_id (16) and one item pair", [SparseFeature("user_id", vocab["user_id"], 16)], [item], [h_item]),
        ("user_id (16), a mean-pooled 'recent_searches' (12), item pair (16), category pair (8)",
         [SparseFeature("user_id", vocab["user_id"], 16),
          SequenceFeature("recent_searches", 40, 12, pooling="mean")],
         [item, cate8], [h_item, h_cate8]),
    ]


#: Typical wrong widths (profile P, dense part D, candidate T, history H, feature counts) and their hints.
_WRONG_WIDTHS = (
    (lambda P, D, T, H, n: P + T,
     ("you forgot the attention-pooled history: the activation unit turns the history into one interest vector "
      "(the weighted sum of behaviour embeddings), which joins the profile and the candidate")),
    (lambda P, D, T, H, n: 16 * n,
     "the sizes are mixed (16 and 8, and others): sum each feature's own embed_dim"),
    (lambda P, D, T, H, n: P - D + 2 * T,
     "a DenseFeature enters the MLP too, with its embed_dim (1) numbers"),
    (lambda P, D, T, H, n: P + 2 * T + H,
     ("the history enters the MLP only through the attention-pooled interest (one vector as wide as the "
      "candidate's embeddings), not also as a feature of its own")),
)


def _parts(features, targets, histories) -> tuple[int, int, int, int, int]:
    profile = sum(f.embed_dim for f in features)
    dense = sum(f.embed_dim for f in features if isinstance(f, DenseFeature))
    return (profile, dense, sum(f.embed_dim for f in targets), sum(f.embed_dim for f in histories),
            len(features) + 2 * len(targets))


def _width_hint(results: list[tuple[int, tuple]]) -> str:
    """The hint whose wrong formula gives every one of the learner's answers."""
    for formula, hint in _WRONG_WIDTHS:
        if all(got == formula(*parts) for got, parts in results):
            return hint
    return "DIN's MLP reads [profile embeddings and dense values, candidate embeddings, attention-pooled history]"


@contextlib.contextmanager
def _models_refused():
    """While the learner's function runs, building a model raises: the width must come from the specs."""
    from ..models.ctr_model import CTRModel

    original = CTRModel.__init__

    def refuse(self, *args, **kwargs):
        raise ExerciseFailed("your function built a model to read its first layer. Hint: the exercise asks you "
                             "to work the width out from the feature specs alone, before any model exists")

    CTRModel.__init__ = refuse
    try:
        yield
    finally:
        CTRModel.__init__ = original


@exercise("Exercise 02.2: DIN's MLP input width")
def check_mlp_input_width(din_mlp_input_width) -> list[str]:
    """Compare ``din_mlp_input_width(features, target_features, history_features)`` with a built DIN's first layer."""
    from ..models import DIN

    lines, results, wrong = [], [], None
    for label, features, targets, histories in width_cases():
        model = DIN(features=features, history_features=histories, target_features=targets)
        want = model.mlp.layers[0][0].in_features  # the first Linear of the MLP head
        with _models_refused():
            got = din_mlp_input_width(list(features), list(targets), list(histories))
        try:
            got = int(got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"{label}: got {got!r}. Hint: return one int") from None
        results.append((got, _parts(features, targets, histories)))
        if got != want and wrong is None:
            wrong = f"{label}: you computed {got}, but DIN's first MLP layer takes a different width"
        lines.append(f"{label}: {got} = model.mlp.layers[0][0].in_features")
    if wrong:
        raise ExerciseFailed(f"{wrong}. Hint: {_width_hint(results)}")
    return lines
