# Exercise 02.2: the width of the vector DIN's MLP reads.
from din_tutorial.checks import check_mlp_input_width


def din_mlp_input_width(features, target_features, history_features):
    """Return the number of inputs of DIN's first MLP layer for these feature lists."""
    ### BEGIN SOLUTION
    profile = sum(f.embed_dim for f in features)  # sparse, pooled-sequence and dense features, each its own size
    candidate = sum(f.embed_dim for f in target_features)  # the candidate's item and category embeddings
    # The activation unit returns a weighted sum of the behaviour embeddings: one vector as wide as the
    # paired target embeddings (hist_item_id with item_id, hist_cate_id with cate_id).
    interest = sum(h.embed_dim for h in history_features)
    return profile + candidate + interest
    ### END SOLUTION


check_mlp_input_width(din_mlp_input_width)
