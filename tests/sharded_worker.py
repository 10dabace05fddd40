"""One process of a 2-process torchrun job for tests/test_sharded_tables.py (not a test module itself).

    torchrun --standalone --nproc_per_node=2 tests/sharded_worker.py SCENARIO SHARDING OUT_DIR

Scenarios: ``train`` (the DIN of tests/ddp_common.py with synchronised Dice, its tables copied into
TorchRec collections and sharded by SHARDING, trained one epoch with SGD on this rank's half of each
batch; rank 0 writes the gathered parameters, every rank its report) and ``unequal_steps`` (the
ranks' loaders have 2 and 1 batches: train_sharded must refuse on every rank, not hang) and ``meta``
(tables built on the meta device: DMP creates only each rank's rows; two steps of training).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, build_model, make_split

from din_tutorial import DIN
from din_tutorial import distributed as D
from din_tutorial.data import TensorBatchLoader
from din_tutorial.sharded_tables import (
    ShardedEmbeddingLayer,
    shard_tables,
    train_sharded,
    unsharded_state_dict,
    with_sharded_tables,
)

LR, SEED = 0.5, 3


def main(scenario: str, sharding: str, out: Path) -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    model = with_sharded_tables(build_model(sync_dice=True))  # the same rows and dense weights on every rank
    if scenario == "meta":  # tables allocated by DMP only, each rank its own rows
        m = model
        features = m.features + m.target_features + m.history_features
        model = DIN(m.features, m.history_features, m.target_features, m.mlp_params, m.attention_params,
                    embedding=ShardedEmbeddingLayer(features, device="meta"))
    dmp = shard_tables(model, sharding=sharding, embedding_optimizer=torch.optim.SGD,
                       embedding_optimizer_params={"lr": LR})
    if scenario == "unequal_steps":
        x, y = make_split(seed=1, n=129)  # contiguous blocks of 65 and 64 rows: 2 and 1 batches of 64
        loader = TensorBatchLoader(x, y, batch_size=64, rank=rank, world_size=world)
    else:
        x, y = make_split(seed=1)
        loader = TensorBatchLoader(x, y, batch_size=GLOBAL_BATCH // world, shuffle=True, seed=7, rank=rank,
                                   world_size=world)
    start = time.perf_counter()
    history = train_sharded(dmp, loader, n_epoch=1, optimizer_fn=torch.optim.SGD, optimizer_params={"lr": LR},
                            seed=SEED, max_steps=2 if scenario == "meta" else None)
    seconds = time.perf_counter() - start
    state = unsharded_state_dict(dmp)
    if rank == 0:
        torch.save(state, out / "params.pt")
    local = [k for k, v in dmp.state_dict().items() if hasattr(v, "local_shards")]
    rows = {k: sum(s.tensor.shape[0] for s in dmp.state_dict()[k].local_shards()) for k in local}
    report = {"world_size": world, "history": history, "seconds_per_step": seconds / history[0]["steps"],
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "local_rows": rows}
    (out / f"report_rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
    D.exit_process(0)  # barrier, leave the group, end without racing gloo's threads against Python's shut-down
