"""What tests/test_distributed.py and its torchrun worker (tests/ddp_worker.py) share: model, data, a Dataset."""
from __future__ import annotations

import numpy as np
import torch

from din_tutorial import DIN, PAD_ID, SequenceFeature, SparseFeature

VOCAB = {"user_id": 40, "item_id": 60, "cate_id": 7}
N_TRAIN, GLOBAL_BATCH, SEQ_LEN = 256, 64, 12
N_VAL = 301  # an odd size: blocks of 151 and 150 on 2 ranks; a DistributedSampler repeats one sample


def make_split(seed: int, n: int = N_TRAIN) -> tuple[dict, np.ndarray]:
    """Random ids with histories of varied length (padding at the end) and a label that depends on them."""
    rng = np.random.default_rng(seed)
    x = {name: rng.integers(0, v, n) for name, v in VOCAB.items()}
    lengths = rng.integers(0, SEQ_LEN + 1, n)
    pad = np.arange(SEQ_LEN)[None, :] >= lengths[:, None]
    for name in ("item_id", "cate_id"):
        h = rng.integers(0, VOCAB[name], (n, SEQ_LEN))
        h[pad] = PAD_ID
        x["hist_" + name] = h
    y = ((x["item_id"] % 3 == 0) ^ (lengths > 6)).astype(np.float32)
    return x, y


def build_model(sync_dice: bool, mba_reg: float = 0.0) -> DIN:
    torch.manual_seed(0)
    features = [SparseFeature("user_id", VOCAB["user_id"], 8)]
    target = [SparseFeature("item_id", VOCAB["item_id"], 8), SparseFeature("cate_id", VOCAB["cate_id"], 8)]
    history = [SequenceFeature("hist_item_id", VOCAB["item_id"], 8, pooling="concat", shared_with="item_id"),
               SequenceFeature("hist_cate_id", VOCAB["cate_id"], 8, pooling="concat", shared_with="cate_id")]
    return DIN(features, history, target, mlp_params={"dims": [16, 8], "dropout": 0.0, "activation": "dice"},
               attention_mlp={"dims": [8, 4], "dropout": 0.0, "activation": "dice"}, sync_dice=sync_dice,
               mba_reg=mba_reg)


class PairsDataset(torch.utils.data.Dataset):
    """A user's own map-style Dataset: ``dataset[i]`` is ``(inputs of sample i, its label)``."""

    def __init__(self, x: dict, y: np.ndarray):
        self.x = {k: torch.as_tensor(v) for k, v in x.items()}
        self.y = torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return {k: v[i] for k, v in self.x.items()}, self.y[i]
