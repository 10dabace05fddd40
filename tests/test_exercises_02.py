"""Exercises of notebooks/02_feature_definitions.ipynb: the solutions pass, typical mistakes get their hint, stubs are [todo]."""

import pytest
from exercise_utils import assert_solution_passes, assert_stub_is_todo

from din_tutorial import DenseFeature, SequenceFeature, SparseFeature
from din_tutorial.checks import ExerciseFailed, check_brand_features, check_mlp_input_width


@pytest.mark.parametrize("name", ["02_feature_definitions_ex1", "02_feature_definitions_ex2"])
def test_solution_passes_its_check(name):
    assert_solution_passes(name)


# ---- 02.1 the feature lists of the brand log
GOODS = [("item_id", 32), ("cate_id", 8), ("brand_id", 8)]


def _brand_with(vocab, goods=GOODS, user_dim=32, **history_kw):
    """The right lists with the history features rebuilt with ``history_kw`` overriding each field."""
    features = [SparseFeature("user_id", vocab["user_id"], user_dim)]
    targets = [SparseFeature(col, vocab[col], dim) for col, dim in goods]
    histories = []
    for col, dim in goods:
        kw = {"vocab_size": vocab[col], "embed_dim": dim, "pooling": "concat", "shared_with": col}
        kw.update({k: (v(col) if callable(v) else v) for k, v in history_kw.items()})
        histories.append(SequenceFeature(f"hist_{col}", **kw))
    return features, targets, histories


def written_differently(vocab):  # the right answer, built another way
    f, t, h = _brand_with(vocab)
    return tuple(f), list(t), list(h)


def no_shared_with(vocab):
    return _brand_with(vocab, shared_with=None)


def mean_pooling(vocab):
    return _brand_with(vocab, pooling="mean")


def history_embed_dim_16(vocab):
    return _brand_with(vocab, embed_dim=16)


def the_seeds_sizes(vocab):  # copied from the seed: 16 everywhere
    return _brand_with(vocab, goods=[(c, 16) for c, _ in GOODS], user_dim=16)


def history_vocab_of_users(vocab):
    return _brand_with(vocab, vocab_size=vocab["user_id"])


def swapped_targets(vocab):
    features, targets, histories = _brand_with(vocab)
    return features, targets[::-1], histories


def shared_with_wrong_target(vocab):
    return _brand_with(vocab, shared_with="item_id")


def forgets_the_brand(vocab):
    return _brand_with(vocab, goods=GOODS[:2])


def test_the_right_answer_written_differently_passes():
    assert check_brand_features(written_differently) is True


@pytest.mark.parametrize("wrong, words", [
    (no_shared_with, "shares the embedding table of the target"),
    (mean_pooling, "pooling='concat'"),
    (history_embed_dim_16, "same embed_dim"),
    (the_seeds_sizes, "read them from the exercise's"),
    (history_vocab_of_users, "reads the same ids as its target"),
    (swapped_targets, "paired one by one"),
    (shared_with_wrong_target, "shares the embedding table"),
    (forgets_the_brand, "lacks \\['brand_id'\\]"),
])
def test_feature_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_brand_features(wrong)


def test_feature_check_rejects_a_hard_coded_vocabulary():
    fixed = {"user_id": 50, "item_id": 120, "cate_id": 12, "brand_id": 9}
    with pytest.raises(ExerciseFailed, match="vocab_size"):
        check_brand_features(lambda vocab: _brand_with(fixed))


# ---- 02.2 the MLP input width
def forgets_history(features, targets, histories):
    return sum(f.embed_dim for f in features) + sum(f.embed_dim for f in targets)


def assumes_16(features, targets, histories):
    return 16 * (len(features) + 2 * len(targets))


def skips_dense(features, targets, histories):
    return sum(f.embed_dim for f in features if not isinstance(f, DenseFeature)) + 2 * sum(f.embed_dim for f in targets)


def counts_history_twice(features, targets, histories):
    return sum(f.embed_dim for f in features) + 2 * sum(f.embed_dim for f in targets) + sum(h.embed_dim for h in histories)


def builds_a_model(features, targets, histories):
    from din_tutorial import DIN

    return DIN(features=features, history_features=histories, target_features=targets).mlp.layers[0][0].in_features


@pytest.mark.parametrize("wrong, words", [
    (builds_a_model, "from the feature specs"),
    (forgets_history, "attention-pooled history"),
    (assumes_16, "mixed"),
    (skips_dense, "DenseFeature"),
    (counts_history_twice, "only through the attention-pooled interest"),
])
def test_width_check_rejects_typical_mistakes(wrong, words):
    with pytest.raises(ExerciseFailed, match=words):
        check_mlp_input_width(wrong)


@pytest.mark.parametrize("check", [check_brand_features, check_mlp_input_width])
def test_stub_is_todo_and_returns_false(check, capsys):
    assert_stub_is_todo(check, capsys)


def test_width_check_restores_model_building():
    """The check refuses models only while the learner's function runs."""
    from din_tutorial.pipeline import build_model

    with pytest.raises(ExerciseFailed):
        check_mlp_input_width(builds_a_model)
    assert build_model("din", {"user_id": 5, "item_id": 9, "cate_id": 3}).mlp.layers[0][0].in_features > 0


def test_feature_check_refuses_its_own_reference():
    """02.1: the check's reference (din_tutorial.checks.feature_checks.brand_features) is importable; it is no answer,
    under its name or another."""
    from din_tutorial.checks.feature_checks import brand_features

    with pytest.raises(ExerciseFailed, match="calls brand_features, which the checks define: the exercise is to write"):
        check_brand_features(brand_features)
    mine = brand_features
    with pytest.raises(ExerciseFailed, match="calls brand_features \\(as mine\\), which the checks define"):
        check_brand_features(lambda vocab: mine(vocab))
