"""One process of a 2-process torchrun job for tests/test_distributed.py (not a test module itself).

    torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py SCENARIO OUT_DIR

Scenarios: ``train`` (SGD steps on a fixed random batch set, then evaluation and prediction over a
validation split; each rank writes its parameters and what it evaluated to OUT_DIR) and ``bad_ids``
(rank 1's shard holds an id beyond the vocabulary, so rank 1 raises: the job must end, not hang).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, build_model, make_split  # noqa: E402

from din_tutorial import CTRTrainer  # noqa: E402
from din_tutorial.data import TensorBatchLoader  # noqa: E402


def main(scenario: str, out: Path, sync: bool) -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    x, y = make_split(seed=1)
    if scenario == "bad_ids":
        x["item_id"][x["item_id"].shape[0] // 2 + 3] = 10_000  # in rank 1's block of the unshuffled split
        shuffle = False
    else:
        shuffle = True
    train = TensorBatchLoader(x, y, batch_size=GLOBAL_BATCH // world, shuffle=shuffle, seed=7, rank=rank, world_size=world)
    xv, yv = make_split(seed=2, n=301)  # an odd size: blocks of 151 and 150
    val = TensorBatchLoader(xv, yv, batch_size=64, rank=rank, world_size=world)
    model = build_model(sync_dice=sync)
    trainer = CTRTrainer(model, optimizer_fn=torch.optim.SGD, optimizer_params={"lr": 0.5}, n_epoch=1,
                         model_path=str(out / "ckpt"), verbose=False, seed=3)
    assert trainer.world_size == world and trainer.rank == rank
    trainer.fit(train)
    torch.save(trainer.model.state_dict(), out / f"params_rank{rank}.pt")
    report = {"world_size": trainer.world_size, "metrics": trainer.evaluate(trainer.model, val, all_metrics=True),
              "predict": trainer.predict(trainer.model, val).tolist(), "history": trainer.history}
    (out / f"report_rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sync=len(sys.argv) > 3 and sys.argv[3] == "sync")
