"""One process of a torchrun job for tests/test_distributed.py (not a test module itself).

    torchrun --nproc_per_node=2 ... tests/ddp_worker.py SCENARIO OUT_DIR [sync | broadcast_buffers]

``broadcast_buffers``: per-rank Dice statistics with DDP's ``forward_sync_buffers=True`` (rank 0's
buffers sent before every forward), against the trainer's default ``False``.

Scenarios:

- ``train``: SGD steps on a fixed random batch set (our shuffled loader), then evaluation and
  prediction over a validation split; each rank writes its state (parameters and buffers) and what
  it evaluated (the gathered predictions, labels and users, and the metrics) to OUT_DIR. ``mba``:
  the same with the mini-batch aware regularisation on.
- ``user_loader``: the same through a user's own ``DataLoader`` over a map-style Dataset with
  ``DistributedSampler`` (training shuffled, validation not).
- ``uneven``: an unshuffled training loader whose blocks give the ranks 5 and 4 batches: the job
  must end with our error, not hang.
- ``bad_ids``: rank 1's shard holds an id beyond the vocabulary, so rank 1 raises: the job must
  end, not hang.

Every rank ends with ``din_tutorial.distributed.exit_process`` (barrier, leave the group, exit):
a plain return could abort at Python's shut-down ("terminate called without an active
exception"; its docstring has the core dump). A rank that raises prints its traceback and ends with 1.
"""
from __future__ import annotations

import faulthandler
import json
import os
import sys
import traceback
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, N_VAL, PairsDataset, build_model, make_split  # noqa: E402

from din_tutorial import CTRTrainer  # noqa: E402
from din_tutorial import distributed as D  # noqa: E402
from din_tutorial.data import TensorBatchLoader  # noqa: E402

MBA_REG = 1.0


def loaders(scenario: str, rank: int, world: int):
    x, y = make_split(seed=1, n=257 if scenario == "uneven" else 256)
    xv, yv = make_split(seed=2, n=N_VAL)
    if scenario == "user_loader":
        train_set, val_set = PairsDataset(x, y), PairsDataset(xv, yv)
        train = DataLoader(train_set, batch_size=GLOBAL_BATCH // world, sampler=DistributedSampler(train_set, seed=7))
        val = DataLoader(val_set, batch_size=64, sampler=DistributedSampler(val_set, shuffle=False))
        return train, val
    if scenario == "bad_ids":
        x["item_id"][x["item_id"].shape[0] // 2 + 3] = 10_000  # in rank 1's block of the unshuffled split
    shuffle = scenario not in ("bad_ids", "uneven")
    batch = 32 if scenario == "uneven" else GLOBAL_BATCH // world  # uneven: blocks of 129 and 128 rows, 5 and 4 batches
    train = TensorBatchLoader(x, y, batch_size=batch, shuffle=shuffle, seed=7, rank=rank, world_size=world)
    val = TensorBatchLoader(xv, yv, batch_size=64, rank=rank, world_size=world)
    return train, val


def main(scenario: str, out: Path, sync: bool, ddp_params: dict | None = None) -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    D.init_process_group(torch.device("cpu"))  # as a user's script does first (DistributedSampler asks the group)
    train, val = loaders(scenario, rank, world)
    model = build_model(sync_dice=sync, mba_reg=MBA_REG if scenario == "mba" else 0.0)
    trainer = CTRTrainer(model, optimizer_fn=torch.optim.SGD, optimizer_params={"lr": 0.5}, n_epoch=1,
                         model_path=str(out / "ckpt"), verbose=False, seed=3, ddp_params=ddp_params)
    assert trainer.world_size == world and trainer.rank == rank
    trainer.fit(train)
    torch.save(trainer.model.state_dict(), out / f"params_rank{rank}.pt")
    outputs = trainer.outputs(trainer.model, val)
    report = {"world_size": trainer.world_size, "metrics": trainer.evaluate(trainer.model, val, all_metrics=True),
              "outputs": {k: v.tolist() for k, v in outputs.items()},
              "predict": trainer.predict(trainer.model, val).tolist(), "history": trainer.history,
              "forward_sync_buffers": getattr(trainer._train_model, "forward_sync_buffers", None)}
    (out / f"report_rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    faulthandler.enable()  # a crash in C++ (an abort) prints where each Python thread was
    try:
        option = sys.argv[3] if len(sys.argv) > 3 else ""
        main(sys.argv[1], Path(sys.argv[2]), sync=option == "sync",
             ddp_params={"forward_sync_buffers": True} if option == "broadcast_buffers" else None)
    except Exception:
        traceback.print_exc()
        D.exit_process(1)  # leave the group (no barrier: the other rank may never get there), exit 1
    D.exit_process(0)  # barrier, leave the group, end without racing gloo's threads against Python's shut-down
