"""DIN with its tables in TorchRec's sharded collections (optional extra): 2 gloo processes against one.

The torchrun jobs run ``tests/sharded_worker.py`` under a timeout (a hang fails the test), with the
model and data of tests/ddp_common.py, and are compared with one process training the plain DIN.
Tests that need TorchRec skip with one line when it is not installed (``TORCHREC=1 scripts/install.sh``).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, VOCAB, build_model, make_split

from din_tutorial import CTRTrainer
from din_tutorial.data import TensorBatchLoader
from din_tutorial.features import SparseFeature
from din_tutorial.sharded_tables import (
    ShardedEmbeddingLayer,
    require_torchrec,
    table_bytes,
    with_sharded_tables,
)

HAVE_TORCHREC = importlib.util.find_spec("torchrec") is not None and importlib.util.find_spec("fbgemm_gpu") is not None
needs_torchrec = pytest.mark.skipif(not HAVE_TORCHREC, reason="TorchRec is not installed (TORCHREC=1 scripts/install.sh)")
TORCHRUN = Path(sys.executable).with_name("torchrun")
WORKER = Path(__file__).resolve().with_name("sharded_worker.py")
TIMEOUT_S = 240  # a job that hangs fails here
LR, SEED = 0.5, 3  # as in the worker


def launch(tmp: Path, scenario: str, sharding: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "DIN_TUTORIAL_DIST_TIMEOUT": "60"}
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(WORKER), scenario, sharding, str(tmp)]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=str(tmp))


def one_process():
    """The reference: the plain DIN (PaddedEmbedding tables), the same seeds, one process with the whole batch."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank of the job (the worker); given back after, for the tests that follow
    try:
        x, y = make_split(seed=1)
        train = TensorBatchLoader(x, y, batch_size=GLOBAL_BATCH, shuffle=True, seed=7)
        with tempfile.TemporaryDirectory() as ckpt:
            return CTRTrainer(build_model(sync_dice=True), optimizer_fn=torch.optim.SGD, optimizer_params={"lr": LR},
                              n_epoch=1, model_path=ckpt, verbose=False, seed=SEED).fit(train)
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- without TorchRec
def test_a_missing_torchrec_gives_an_error_that_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchrec", None)  # `import torchrec` now raises ImportError
    with pytest.raises(ImportError, match=r"TORCHREC=1 scripts/install\.sh"):
        require_torchrec()
    with pytest.raises(ImportError, match="sharded embedding tables need TorchRec"):
        ShardedEmbeddingLayer([SparseFeature("item_id", 10, 4)])


def test_table_bytes_is_the_memory_arithmetic_of_a_row_wise_shard():
    assert table_bytes(1_000_000, 64) == 256_000_000  # rows x dim x 4 bytes
    assert table_bytes(1_000_001, 64, world_size=2) == 500_001 * 64 * 4  # a block of ceil(rows / N) rows each
    with pytest.raises(ValueError, match="world_size must be a positive integer"):
        table_bytes(10, 4, world_size=0)


# ---------------------------------------------------------------- one process
@needs_torchrec
def test_a_din_with_torchrec_tables_computes_what_the_plain_din_computes():
    plain = build_model(sync_dice=False).eval()
    sharded = with_sharded_tables(plain).eval()
    assert isinstance(sharded.embedding, ShardedEmbeddingLayer)
    assert plain.embedding.tables["item_id"].weight.shape == (VOCAB["item_id"] + 1, 8)  # the copy left it alone
    x, _ = make_split(seed=5, n=50)
    x = {k: torch.as_tensor(v) for k, v in x.items()}
    for traceable in (False, True):  # the packed path and the masked one (padding comes back as zeros)
        torch.testing.assert_close(sharded(x, traceable=traceable), plain(x, traceable=traceable), rtol=0, atol=0)
    with pytest.raises(TypeError, match="plain EmbeddingLayer"):
        with_sharded_tables(sharded)


@needs_torchrec
def test_bad_ids_are_still_named_with_torchrec_tables():
    sharded = with_sharded_tables(build_model(sync_dice=False))
    x, _ = make_split(seed=5, n=8)
    x = {k: torch.as_tensor(v) for k, v in x.items()}
    x["item_id"][3] = VOCAB["item_id"]
    with pytest.raises(ValueError, match=r"feature 'item_id': id 60 is outside \[0, 60\)"):
        sharded(x)


@needs_torchrec
def test_sharding_refuses_what_sharded_tables_cannot_do():
    from din_tutorial import DIN
    from din_tutorial.layers.embedding import FeatureConfigError
    from din_tutorial.sharded_tables import shard_tables

    m = build_model(sync_dice=False)
    features = m.features + m.target_features + m.history_features
    with_reg = DIN(m.features, m.history_features, m.target_features,
                   embedding=ShardedEmbeddingLayer(features), mba_reg=0.01)
    with pytest.raises(FeatureConfigError, match="mba_reg=0.01"):  # it would be skipped silently otherwise
        shard_tables(with_reg)
    with pytest.raises(TypeError, match="not a ShardedEmbeddingLayer"):
        shard_tables(m)
    with pytest.raises(ValueError, match="sharding='column_wise' is not offered"):
        shard_tables(with_sharded_tables(m), sharding="column_wise")


# ---------------------------------------------------------------- two processes
@pytest.fixture(scope="module")
def reference():
    trainer = one_process()
    return trainer.model.state_dict(), trainer.history[0]["train_loss"]


@needs_torchrec
@pytest.mark.slow
@pytest.mark.parametrize("sharding", ["row_wise", "table_wise"])
def test_two_ranks_with_sharded_tables_train_as_one_process_with_the_whole_batch(sharding, reference):
    """(a) it runs on 2 ranks, each holding part of the tables; (b) the same parameters and loss as one process.

    Tolerance 1e-5: the reference's largest change in 4 SGD steps is ~1e-2 (tables) and ~1e-4 (attention),
    and float32 rounding from the other order of sums (two half batches, one fused row update per
    lookup) stays below 1e-6 here; a missing gradient average (2x table steps) or per-rank Dice
    statistics would miss by more than 1e-4.
    """
    want, want_loss = reference
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "train", sharding)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        got = torch.load(Path(tmp) / "params.pt")
        reports = [json.loads((Path(tmp) / f"report_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    rows = [r["local_rows"] for r in reports]  # each rank holds part of every table (row_wise) or whole tables
    for key in rows[0]:
        name = key.split(".")[2]
        assert rows[0][key] + rows[1][key] == VOCAB[name], (key, rows)
        if sharding == "row_wise":
            assert rows[0][key] > 0 and rows[1][key] > 0, (key, rows)
        else:
            assert 0 in (rows[0][key], rows[1][key]), (key, rows)
    assert set(got) == set(want)
    start = build_model(sync_dice=True).state_dict()
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-5, msg=name)
    moved = max(float((want[n] - start[n]).abs().max()) for n in want if n.startswith("embedding."))
    assert moved > 1e-3  # the tables really trained, so matching them is not trivial
    assert np.all(got["embedding.tables.item_id.weight"][-1].numpy() == 0)  # the padding row stays zero
    for report in reports:
        assert report["history"][0]["steps"] == 4
        assert report["history"][0]["train_loss"] == pytest.approx(want_loss, abs=1e-6)


@needs_torchrec
@pytest.mark.slow
def test_ranks_with_unequal_step_counts_get_a_clear_error_not_a_hang():
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "unequal_steps", "row_wise")  # subprocess.run's timeout turns a hang into a failure
    assert done.returncode != 0
    assert "have [2, 1] batches; every process must take the same number of steps" in done.stdout + done.stderr, done.stderr[-3000:]


@needs_torchrec
@pytest.mark.slow
def test_tables_built_on_the_meta_device_get_distinct_rows_on_each_rank():
    """DMP allocates and initialises only each rank's block; init_seed + rank keeps the blocks from being copies."""
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "meta", "row_wise")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        got = torch.load(Path(tmp) / "params.pt")
        report = json.loads((Path(tmp) / "report_rank0.json").read_text())
    table = got["embedding.tables.item_id.weight"]  # (60 + padding row, 8)
    assert table.shape == (VOCAB["item_id"] + 1, 8) and report["history"][0]["steps"] == 2
    half = report["local_rows"]["embedding.tables.item_id.collection.embeddings.item_id.weight"]
    assert (table[:half] - table[half: 2 * half]).abs().max() > 1e-3  # rank 1's rows are not a copy of rank 0's
    assert 0.005 < float(table[:-1].std()) < 0.02  # Normal(0, 0.01), as the plain tables start
    assert torch.all(table[-1] == 0)
