# Exercise 02.1: the feature lists for a log whose goods carry an item, a category and a brand.
from din_tutorial import SequenceFeature, SparseFeature
from din_tutorial.checks import check_brand_features


def make_brand_features(vocab):
    """Return (features, target_features, history_features) for the brand log, sized by vocab."""
    ### BEGIN SOLUTION
    features = [SparseFeature("user_id", vocab_size=vocab["user_id"], embed_dim=32)]  # no profile columns here
    goods = [("item_id", 32), ("cate_id", 8), ("brand_id", 8)]  # the candidate's columns and sizes, in order
    target_features = [SparseFeature(col, vocab_size=vocab[col], embed_dim=dim) for col, dim in goods]
    # One history per target, in the same order, with the target's size, every step kept, the target's table.
    history_features = [SequenceFeature(f"hist_{col}", vocab_size=vocab[col], embed_dim=dim, pooling="concat",
                                        shared_with=col) for col, dim in goods]
    return features, target_features, history_features
    ### END SOLUTION


check_brand_features(make_brand_features)
