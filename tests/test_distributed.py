"""Training on 2 processes with torchrun (gloo on 127.0.0.1): DDP, Dice statistics, exact distributed evaluation.

Each test launches ``torchrun --nproc_per_node=2 tests/ddp_worker.py ...`` (or the main job) on a
free port, under a time limit, so a hang fails the test instead of stalling CI, and compares with
one process here. What is compared is exact where it can be (labels, users, which samples; metrics
recomputed from the very arrays a rank gathered) and within a tolerance that float noise cannot
cross where two computations differ only in batch composition (predictions, parameters): never a
rank's statistic of noisy values at 1e-7, and nothing that depends on thread count or speed.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, N_VAL, build_model, make_split  # noqa: E402
from ddp_worker import MBA_REG  # noqa: E402

from din_tutorial import CTRTrainer  # noqa: E402
from din_tutorial.data import TensorBatchLoader  # noqa: E402
from din_tutorial.training import metrics_of  # noqa: E402

pytestmark = pytest.mark.slow
TORCHRUN = Path(sys.executable).with_name("torchrun")
WORKER = Path(__file__).resolve().with_name("ddp_worker.py")
TIMEOUT_S = 600  # a job that hangs fails here (a healthy one takes well under a minute, even on a busy machine)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "DIN_TUTORIAL_DIST_TIMEOUT": "300"}
ONE_NODE = ["--nnodes=1", "--rdzv_backend=c10d", "--rdzv_endpoint=127.0.0.1:0"]  # port 0: a free port, taken at once
ATOL = 1e-5  # float noise of other batch compositions is ~1e-7 here


def run_bounded(commands: list[list[str]], cwd: Path, env: dict = ENV) -> list[subprocess.CompletedProcess]:
    """Run commands side by side, each in its own session; past TIMEOUT_S stop them and everything they started.

    torchrun starts its workers in sessions of their own: a SIGTERM to torchrun stops them (it forwards
    the signal and waits); what is left after that is killed.
    """
    procs = [subprocess.Popen(c, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) for c in commands]
    done = []
    try:
        for c, p in zip(commands, procs):
            out, err = p.communicate(timeout=TIMEOUT_S)
            done.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()  # torchrun: SIGTERM to its workers, then SIGKILL to any that stay
                try:
                    p.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)  # the session started above
                    p.communicate()
    return done


def launch(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(TORCHRUN), *ONE_NODE, "--nproc_per_node=2", str(WORKER), args[0], str(tmp), *args[1:]]
    return run_bounded([command], cwd=tmp)[0]


def assert_clean_exit(done: subprocess.CompletedProcess, also: list = ()) -> None:
    """Exit status 0 and no abort; on failure the message shows this job's output (and that of ``also``)."""
    out = "\n".join(d.stdout + d.stderr for d in also) or done.stdout + done.stderr
    assert done.returncode == 0, shown(out)
    assert "terminate called" not in out and "SIGABRT" not in out, shown(out)


def shown(out: str) -> str:
    """The end of a job's output; where a worker died, faulthandler's thread stacks first (they come before the end)."""
    crash = out.find("Fatal Python error")
    if crash < 0 or len(out) - crash <= 9000:
        return out[-9000:]
    start = max(out.rfind("\n", 0, max(crash - 1500, 0)), 0)  # with the lines before: "terminate called ..."
    return out[start:crash + 6000] + "\n[...]\n" + out[-3000:]


def one_process(sync: bool, batch: int = GLOBAL_BATCH, mba_reg: float = 0.0):
    """The reference: the same model, data and seeds in this process, with the whole batch."""
    torch.set_num_threads(1)
    x, y = make_split(seed=1)
    train = TensorBatchLoader(x, y, batch_size=batch, shuffle=True, seed=7)
    with tempfile.TemporaryDirectory() as ckpt:
        trainer = CTRTrainer(build_model(sync_dice=sync, mba_reg=mba_reg), optimizer_fn=torch.optim.SGD,
                             optimizer_params={"lr": 0.5}, n_epoch=1, model_path=ckpt, verbose=False, seed=3)
        return trainer.fit(train)


def one_process_outputs(state: dict, sync: bool) -> dict:
    """What one process gets evaluating ``state`` over the whole validation split."""
    torch.set_num_threads(1)
    model = build_model(sync_dice=sync)
    model.load_state_dict(state)
    xv, yv = make_split(seed=2, n=N_VAL)
    with tempfile.TemporaryDirectory() as ckpt:
        trainer = CTRTrainer(model, n_epoch=1, model_path=ckpt, verbose=False)
        return trainer.outputs(model, TensorBatchLoader(xv, yv, batch_size=64))


def read_job(tmp: Path):
    params = [torch.load(tmp / f"params_rank{r}.pt") for r in (0, 1)]
    reports = [json.loads((tmp / f"report_rank{r}.json").read_text()) for r in (0, 1)]
    for report in reports:
        report["outputs"] = {k: np.asarray(v, dtype=np.int64 if k == "user" else np.float32)
                             for k, v in report["outputs"].items()}
    return params, reports


def assert_one_model_evaluated_exactly(params: list, reports: list, sync: bool) -> None:
    """Every rank holds the same state and evaluated it as one process evaluating the whole split."""
    for name in params[0]:  # parameters and buffers (Dice's running statistics)
        assert torch.equal(params[0][name], params[1][name]), name
    want = one_process_outputs(params[0], sync=sync)
    for report in reports:
        got = report["outputs"]
        assert report["world_size"] == 2 and report["metrics"]["n"] == N_VAL
        np.testing.assert_array_equal(got["label"], want["label"])  # each sample once, in the split's order
        np.testing.assert_array_equal(got["user"], want["user"])
        np.testing.assert_allclose(got["pred"], want["pred"], rtol=0, atol=ATOL)
        np.testing.assert_array_equal(report["predict"], got["pred"])
        assert report["metrics"] == metrics_of(got)  # the metrics are those of the gathered arrays, exactly
    for key in ("pred", "label", "user"):  # and every rank gathered the same arrays
        np.testing.assert_array_equal(reports[0]["outputs"][key], reports[1]["outputs"][key])


@pytest.fixture(scope="module")
def synced_job():
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "train", "sync")
        assert_clean_exit(done)
        yield read_job(Path(tmp))


@pytest.fixture(scope="module")
def per_rank_job():
    with tempfile.TemporaryDirectory() as tmp:
        done = launch(Path(tmp), "train", "per_rank")
        assert_clean_exit(done)
        yield read_job(Path(tmp))


def test_ranks_hold_identical_parameters(synced_job):
    params, _ = synced_job
    for name in params[0]:
        assert torch.equal(params[0][name], params[1][name]), name


def test_two_ranks_with_half_batches_and_synced_dice_equal_one_process_with_the_whole_batch(synced_job):
    params, reports = synced_job
    trainer = one_process(sync=True)
    for name, want in trainer.model.state_dict().items():
        torch.testing.assert_close(params[0][name], want, rtol=0, atol=ATOL, msg=name)
    assert reports[0]["history"][0]["train_loss"] == pytest.approx(trainer.history[0]["train_loss"], abs=ATOL)


def test_distributed_evaluation_equals_one_process_evaluating_the_same_model(synced_job):
    """Issue 16 item 1: the gathered arrays against one process; metrics recomputed from the same arrays."""
    params, reports = synced_job
    assert_one_model_evaluated_exactly(params, reports, sync=True)


def test_without_sync_every_rank_evaluates_and_keeps_rank_0s_model(per_rank_job):
    """Issue 16 item 3: each rank's Dice running statistics differ after the last step unless rank 0's are broadcast."""
    params, reports = per_rank_job
    assert_one_model_evaluated_exactly(params, reports, sync=False)


def test_per_rank_dice_statistics_are_not_what_one_process_computes(per_rank_job):
    """The lesson of notebook 09: without sync, each rank normalises by its half of the batch."""
    params, _ = per_rank_job
    trainer = one_process(sync=False)
    diff = max(float((params[0][n] - v).abs().max()) for n, v in trainer.model.state_dict().items())
    assert diff > 1e-3  # against noise of ~1e-7


def test_ddp_without_buffer_broadcasts_trains_the_same_model(per_rank_job, tmp_path):
    """The trainer's DDP setting forward_sync_buffers=False: the same model as DDP's per-forward broadcast.

    In training Dice normalises by the batch, never by its running statistics, so DDP's broadcast
    of rank 0's buffers before each forward changes no gradient; rank 0's own statistics are the
    same either way, and the trainer broadcasts them after each epoch.
    """
    done = launch(tmp_path, "train", "broadcast_buffers")
    assert_clean_exit(done)
    params, reports = read_job(tmp_path)
    assert [r["forward_sync_buffers"] for r in reports] == [True, True]  # the setting reached DDP
    assert [r["forward_sync_buffers"] for r in per_rank_job[1]] == [False, False]  # the trainer's default
    for name, value in per_rank_job[0][0].items():
        assert torch.equal(params[0][name], value), name
        assert torch.equal(params[1][name], value), name


def test_exit_process_flushes_and_ends_each_rank_with_its_code(tmp_path):
    """Every torchrun entry point ends with exit_process (see its docstring for the abort it avoids)."""
    script = tmp_path / "ends.py"
    script.write_text("import sys, torch\nfrom din_tutorial import distributed as D\n"
                      "D.init_process_group(torch.device('cpu'))\n"
                      "print(f'rank {D.rank()} wrote', end='')  # no newline: only a flush shows it\n"
                      "D.exit_process(int(sys.argv[1]) if D.rank() == 1 else 0)\n")
    ok = run_bounded([[str(TORCHRUN), *ONE_NODE, "--nproc_per_node=2", str(script), "0"]], cwd=tmp_path)[0]
    assert_clean_exit(ok)
    assert "rank 0 wrote" in ok.stdout and "rank 1 wrote" in ok.stdout
    failed = run_bounded([[str(TORCHRUN), *ONE_NODE, "--nproc_per_node=2", str(script), "3"]], cwd=tmp_path)[0]
    assert failed.returncode != 0 and "exitcode  : 3" in failed.stderr, shown(failed.stdout + failed.stderr)


def test_exit_process_in_one_process_is_sys_exit():
    from din_tutorial.distributed import exit_process

    with pytest.raises(SystemExit) as ended:
        exit_process(4)
    assert ended.value.code == 4


def test_mini_batch_aware_regularisation_is_the_one_process_penalty(tmp_path):
    """Issue 16 item 8: the penalty over the global batch's rows and counts, not a sum of per-rank penalties."""
    assert_clean_exit(launch(tmp_path, "mba", "sync"))
    params, _ = read_job(tmp_path)
    want = one_process(sync=True, mba_reg=MBA_REG).model.state_dict()
    without = one_process(sync=True).model.state_dict()
    assert max(float((want[n] - without[n]).abs().max()) for n in want) > 1e-2  # the penalty matters here
    for name, value in want.items():
        torch.testing.assert_close(params[0][name], value, rtol=0, atol=ATOL, msg=name)


def test_a_users_own_dataloader_with_distributed_sampler_trains_and_evaluates(tmp_path):
    """Issue 18 item 4: a DataLoader over a map-style Dataset with DistributedSampler, training and evaluation."""
    assert_clean_exit(launch(tmp_path, "user_loader"))
    params, reports = read_job(tmp_path)
    assert np.isfinite(reports[0]["history"][0]["train_loss"])
    assert max(float((params[0][n] - v).abs().max()) for n, v in build_model(False).state_dict().items()) > 1e-3
    assert_one_model_evaluated_exactly(params, reports, sync=False)  # the sampler's repeated sample counted once


def test_training_loaders_of_different_lengths_end_with_an_error_not_a_hang(tmp_path):
    """Issue 16 item 2: unshuffled blocks of 129 and 128 rows give 5 and 4 batches of 32."""
    done = launch(tmp_path, "uneven")
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "have [5, 4] batches; every process must take the same number of steps" in out, out[-3000:]


def test_a_rank_that_raises_ends_the_job_with_its_error(tmp_path):
    done = launch(tmp_path, "bad_ids")
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "feature 'item_id': id 10000 is outside [0, 60)" in out, out[-3000:]


def write_log(path: Path, n_users: int) -> None:
    from din_tutorial.datasets import load_dataset

    data = load_dataset("sample")
    data[data["user_id"] < n_users].to_csv(path, index=False)


def main_job(data: Path, out: Path, *launcher: str) -> list[str]:
    return [str(TORCHRUN), *launcher, "-m", "din_tutorial", "--data", str(data), "--epochs", "1",
            "--batch-size", "256", "--out", str(out), "--no-export", "--no-draw", "--quiet"]


def test_main_job_on_two_processes_is_repeatable_and_records_world_size(tmp_path):
    """`torchrun --nproc_per_node=2 -m din_tutorial` twice with one seed: the same results, world_size 2, rank 0 writes."""
    write_log(tmp_path / "log.csv", 300)
    runs = []
    for name in ("a", "b"):
        done = run_bounded([main_job(tmp_path / "log.csv", tmp_path / name, *ONE_NODE, "--nproc_per_node=2")],
                           cwd=tmp_path)[0]
        assert_clean_exit(done)
        runs.append(json.loads((tmp_path / name / "results.json").read_text()))
    assert runs[0]["settings"]["world_size"] == 2
    assert runs[0]["settings"]["sparse_embeddings"] is False  # gloo's sparse all-reduce crashed (pipeline.run)
    for model in ("DIN", "BaseModel"):
        for k in ("auc", "gauc", "logloss", "n"):
            assert runs[0]["models"][model][k] == runs[1]["models"][model][k], (model, k)
    assert runs[0]["models"]["DIN"]["n"] == runs[0]["data"]["test_samples"]  # the whole test split, gathered
    assert not list((tmp_path / "a").glob(".*.tmp"))  # atomic writes left no temporary file


def test_main_job_on_two_machines_without_a_shared_folder_prepares_each_and_never_opens_a_stale_one(tmp_path):
    """Issue 16 item 4: two torchrun agents (--nnodes=2) stand for two machines, each with its own --out.

    Both folders start stale: samples made from another log with the same settings. Each machine
    must rebuild its own from this log (the log's hash is checked on open), and the job succeed.
    """
    import pandas as pd

    from din_tutorial.pipeline import prepare_lean

    write_log(tmp_path / "log.csv", 300)
    write_log(tmp_path / "other.csv", 200)
    for name in ("a", "b"):
        prepare_lean(pd.read_csv(tmp_path / "other.csv"), tmp_path / name / "samples")
    stale = json.loads((tmp_path / "a" / "samples" / "manifest.json").read_text())["log_sha256"]
    # the rendezvous store lives here, as on a cluster's long-lived host: with an agent hosting it, the agent that
    # finishes first would take it away while the other still polls it (torchrun's error, not ours)
    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    launcher = ["--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{store.port}",
                "--rdzv_conf=is_host=false", f"--rdzv_id={uuid.uuid4().hex}"]
    done = run_bounded([main_job(tmp_path / "log.csv", tmp_path / name, *launcher) for name in ("a", "b")],
                       cwd=tmp_path)
    del store
    for d in done:
        assert_clean_exit(d, also=done)
    fresh = prepare_lean(pd.read_csv(tmp_path / "log.csv"), tmp_path / "fresh").samples.manifest["log_sha256"]
    assert fresh != stale
    for name in ("a", "b"):
        assert json.loads((tmp_path / name / "samples" / "manifest.json").read_text())["log_sha256"] == fresh, name
    results = [json.loads((tmp_path / n / "results.json").read_text()) for n in ("a", "b")
               if (tmp_path / n / "results.json").exists()]
    assert len(results) == 1 and results[0]["settings"]["world_size"] == 2  # rank 0's machine writes the results
    assert results[0]["models"]["DIN"]["n"] == results[0]["data"]["test_samples"]


def test_a_port_in_use_and_cuda_without_a_gpu_end_the_job_with_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [str(TORCHRUN), "--nnodes=1", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                   f"--master_port={port}", str(WORKER), "train", str(tmp_path)]
        done = run_bounded([command], cwd=tmp_path)[0]
    assert done.returncode != 0 and "address already in use" in done.stderr
    if torch.cuda.is_available():
        return
    command = [str(TORCHRUN), *ONE_NODE, "--nproc_per_node=2", "-m", "din_tutorial", "--device", "cuda",
               "--epochs", "1", "--out", str(tmp_path / "out"), "--quiet"]
    done = run_bounded([command], cwd=tmp_path)[0]
    assert done.returncode != 0
    assert "device='cuda' but CUDA is not available on this machine" in done.stdout + done.stderr
