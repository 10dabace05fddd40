# Exercise 02.1: the seed's feature lists for a vocabulary dict.
from din_tutorial import SequenceFeature, SparseFeature
from din_tutorial.checks import check_seed_features


def make_seed_features(vocab):
    """Return (features, target_features, history_features) as in the seed tutorial, sized by vocab."""
    ### BEGIN SOLUTION
    features = [SparseFeature("user_id", vocab_size=vocab["user_id"], embed_dim=16)]
    features += [SparseFeature(col, vocab_size=vocab[col], embed_dim=8) for col in ("gender", "age", "occupation", "zip")]
    target_features = [
        SparseFeature("item_id", vocab_size=vocab["item_id"], embed_dim=16),
        SparseFeature("cate_id", vocab_size=vocab["cate_id"], embed_dim=16),
    ]
    history_features = [
        SequenceFeature("hist_item_id", vocab_size=vocab["item_id"], embed_dim=16, pooling="concat",
                        shared_with="item_id"),
        SequenceFeature("hist_cate_id", vocab_size=vocab["cate_id"], embed_dim=16, pooling="concat",
                        shared_with="cate_id"),
    ]
    return features, target_features, history_features
    ### END SOLUTION


check_seed_features(make_seed_features)
