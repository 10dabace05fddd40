"""One process of a torchrun job for tests/test_sparse_updates.py (not a test module itself).

    torchrun --nproc_per_node=2 ... tests/sparse_worker.py OUT_DIR [mba]

Trains the DIN of tests/ddp_common.py for one epoch with sparse table updates (SparseAdam for the
tables, SGD for the rest, Dice statistics over both processes) on this rank's shard, and writes
this rank's state to OUT_DIR. ``mba``: with the mini-batch aware regularisation on.
"""
from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, build_model, make_split  # noqa: E402

from din_tutorial import CTRTrainer  # noqa: E402
from din_tutorial import distributed as D  # noqa: E402
from din_tutorial.data import TensorBatchLoader  # noqa: E402

SPARSE_LR, DENSE_LR, MBA_REG = 0.05, 0.5, 1.0


def trainer_for(model, model_path: str) -> CTRTrainer:
    """The trainer both the job and the one-process reference use."""
    return CTRTrainer(model, optimizer_fn=torch.optim.SGD, optimizer_params={"lr": DENSE_LR}, n_epoch=1,
                      model_path=model_path, verbose=False, seed=3, sparse_embeddings=True,
                      sparse_optimizer_params={"lr": SPARSE_LR})


def main(out: Path, mba: bool) -> None:
    torch.set_num_threads(1)
    D.init_process_group(torch.device("cpu"))
    rank, world = D.rank(), D.world_size()
    x, y = make_split(seed=1)
    train = TensorBatchLoader(x, y, batch_size=GLOBAL_BATCH // world, shuffle=True, seed=7, rank=rank, world_size=world)
    trainer = trainer_for(build_model(sync_dice=True, mba_reg=MBA_REG if mba else 0.0), str(out / "ckpt"))
    trainer.fit(train)
    torch.save(trainer.model.state_dict(), out / f"params_rank{rank}.pt")


if __name__ == "__main__":
    faulthandler.enable()
    main(Path(sys.argv[1]), mba=len(sys.argv) > 2 and sys.argv[2] == "mba")
    D.exit_process(0)  # barrier, leave the group, end without racing gloo's threads against Python's shut-down
