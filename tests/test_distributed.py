"""Training on 2 processes with torchrun (gloo on CPU): DDP, synchronised Dice, exact distributed evaluation.

Each test launches ``torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py ...`` under a
timeout, so a hang fails the test instead of stalling CI, and compares with one process here.
"""
from __future__ import annotations

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
from ddp_common import GLOBAL_BATCH, build_model, make_split  # noqa: E402

from din_tutorial import CTRTrainer  # noqa: E402
from din_tutorial.data import TensorBatchLoader  # noqa: E402

pytestmark = pytest.mark.slow
TORCHRUN = Path(sys.executable).with_name("torchrun")
WORKER = Path(__file__).resolve().with_name("ddp_worker.py")
TIMEOUT_S = 240  # a job that hangs fails here


def launch(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "DIN_TUTORIAL_DIST_TIMEOUT": "60"}
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(WORKER), args[0], str(tmp), *args[1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=str(tmp))


def one_process(sync: bool, batch: int = GLOBAL_BATCH):
    """The reference: the same model, data and seeds in this process, with the whole batch."""
    torch.set_num_threads(1)
    x, y = make_split(seed=1)
    train = TensorBatchLoader(x, y, batch_size=batch, shuffle=True, seed=7)
    xv, yv = make_split(seed=2, n=301)
    val = TensorBatchLoader(xv, yv, batch_size=64)
    with tempfile.TemporaryDirectory() as ckpt:
        trainer = CTRTrainer(build_model(sync_dice=sync), optimizer_fn=torch.optim.SGD, optimizer_params={"lr": 0.5},
                             n_epoch=1, model_path=ckpt, verbose=False, seed=3).fit(train)
        return trainer, trainer.evaluate(trainer.model, val, all_metrics=True), trainer.predict(trainer.model, val)


@pytest.fixture(scope="module")
def synced_job():
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "train", "sync")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        params = [torch.load(Path(tmp) / f"params_rank{r}.pt") for r in (0, 1)]
        reports = [json.loads((Path(tmp) / f"report_rank{r}.json").read_text()) for r in (0, 1)]
        yield params, reports, done


def test_ranks_hold_identical_parameters(synced_job):
    params, _, _ = synced_job
    for name in params[0]:
        assert torch.equal(params[0][name], params[1][name]), name


def test_two_ranks_with_half_batches_and_synced_dice_equal_one_process_with_the_whole_batch(synced_job):
    params, reports, _ = synced_job
    trainer, _, _ = one_process(sync=True)
    for name, want in trainer.model.state_dict().items():
        torch.testing.assert_close(params[0][name], want, rtol=0, atol=1e-5, msg=name)
    assert reports[0]["history"][0]["train_loss"] == pytest.approx(trainer.history[0]["train_loss"], abs=1e-6)


def test_distributed_evaluation_equals_one_process_evaluating_the_same_model(synced_job):
    params, reports, _ = synced_job
    model = build_model(sync_dice=True)
    model.load_state_dict(params[0])
    xv, yv = make_split(seed=2, n=301)
    with tempfile.TemporaryDirectory() as ckpt:
        trainer = CTRTrainer(model, n_epoch=1, model_path=ckpt, verbose=False)
        val = TensorBatchLoader(xv, yv, batch_size=64)
        want = trainer.evaluate(model, val, all_metrics=True)
        want_p = trainer.predict(model, val)
    for report in reports:  # every rank has the metrics of the whole split (301 samples, blocks of 151 and 150)
        assert report["world_size"] == 2 and report["metrics"]["n"] == 301
        for k in ("auc", "gauc", "logloss"):
            assert report["metrics"][k] == pytest.approx(want[k], abs=1e-7), k
        np.testing.assert_allclose(report["predict"], want_p, atol=1e-7)  # in the split's order


def test_per_rank_dice_statistics_are_not_what_one_process_computes():
    """The lesson of notebook 09: without sync, each rank normalises by its half of the batch."""
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "train", "per_rank")
        assert done.returncode == 0, done.stderr[-3000:]
        params = torch.load(Path(tmp) / "params_rank0.pt")
    trainer, _, _ = one_process(sync=False)
    diff = max(float((params[n] - v).abs().max()) for n, v in trainer.model.state_dict().items())
    assert diff > 1e-4


def test_a_rank_that_raises_ends_the_job_with_its_error():
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "bad_ids")  # subprocess.run's timeout turns a hang into a failure
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "feature 'item_id': id 10000 is outside [0, 60)" in out, out[-3000:]


def test_main_job_on_two_processes_is_repeatable_and_records_world_size(tmp_path):
    """`torchrun --nproc_per_node=2 -m din_tutorial` twice with one seed: the same results, world_size 2, rank 0 writes."""
    from din_tutorial.datasets import load_dataset

    data = load_dataset("sample")
    data[data["user_id"] < 300].to_csv(tmp_path / "log.csv", index=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "DIN_TUTORIAL_DIST_TIMEOUT": "60"}
    runs = []
    for name in ("a", "b"):
        command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "din_tutorial", "--data",
                   str(tmp_path / "log.csv"), "--epochs", "1", "--batch-size", "256", "--out", str(tmp_path / name),
                   "--no-export", "--no-draw", "--quiet"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads((tmp_path / name / "results.json").read_text()))
    assert runs[0]["settings"]["world_size"] == 2
    for model in ("DIN", "BaseModel"):
        for k in ("auc", "gauc", "logloss", "n"):
            assert runs[0]["models"][model][k] == runs[1]["models"][model][k], (model, k)
    assert runs[0]["models"]["DIN"]["n"] == runs[0]["data"]["test_samples"]  # the whole test split, gathered
    assert not list((tmp_path / "a").glob(".*.tmp"))  # atomic writes left no temporary file


def test_a_port_in_use_and_cuda_without_a_gpu_end_the_job_with_a_clear_error(tmp_path):
    import socket

    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [str(TORCHRUN), "--nnodes=1", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                   f"--master_port={port}", str(WORKER), "train", str(tmp_path)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode != 0 and "address already in use" in done.stderr
    if torch.cuda.is_available():
        return
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "din_tutorial", "--device", "cuda",
               "--epochs", "1", "--out", str(tmp_path / "out"), "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=str(tmp_path))
    assert done.returncode != 0
    assert "device='cuda' but CUDA is not available on this machine" in done.stdout + done.stderr
