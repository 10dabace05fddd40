"""Sparse table updates (issue 18 item 2): ``CTRTrainer(sparse_embeddings=True)`` equals dense updates.

With SGD and Adagrad, a row whose gradient is zero does not move, so sparse and dense updates give
the same model everywhere; with Adam they agree on the first step (on every row) and then differ
only by design (SparseAdam leaves an untouched row's moments alone, dense Adam decays them). The
seed's ``CTRTrainer(model, optimizer_params=...)`` is unchanged: dense, one optimiser. A 2-process
torchrun job with sparse updates keeps the ranks equal (and equal to one process with the whole
batch). Nothing here depends on timing or thread count.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_common import GLOBAL_BATCH, build_model, make_split  # noqa: E402

from din_tutorial import CTRTrainer  # noqa: E402
from din_tutorial.data import TensorBatchLoader  # noqa: E402
from din_tutorial.training import check_sparse_backend, embedding_tables  # noqa: E402

TABLES = ("user_id", "item_id", "cate_id")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def loader(n: int = 256, batch: int = GLOBAL_BATCH, shuffle: bool = True):
    x, y = make_split(seed=1, n=n)
    return TensorBatchLoader(x, y, batch_size=batch, shuffle=shuffle, seed=7), x


def train(model, tmp, **kw) -> CTRTrainer:
    trainer = CTRTrainer(model, n_epoch=1, model_path=str(tmp), verbose=False, seed=3, **kw)
    return trainer.fit(loader()[0])


def state(trainer) -> dict:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def touched(x: dict) -> dict[str, torch.Tensor]:
    """Which rows of each table the split's ids touch (histories share the target's table)."""
    out = {}
    for table, keys in (("user_id", ["user_id"]), ("item_id", ["item_id", "hist_item_id"]),
                        ("cate_id", ["cate_id", "hist_cate_id"])):
        ids = torch.cat([torch.as_tensor(x[k]).reshape(-1) for k in keys])
        out[table] = torch.unique(ids[ids >= 0])
    return out


@pytest.mark.parametrize("opt", [torch.optim.SGD, torch.optim.Adagrad])
@pytest.mark.parametrize("mba_reg", [0.0, 1.0])
def test_sparse_updates_equal_dense_updates_with_sgd_and_adagrad(opt, mba_reg, tmp_path):
    """One epoch (4 steps): every weight equal; untouched rows and the padding row unchanged."""
    lr = 0.5 if opt is torch.optim.SGD else 0.05
    initial = build_model(False, mba_reg=mba_reg).state_dict()
    dense = train(build_model(False, mba_reg=mba_reg), tmp_path / "d", optimizer_fn=opt, optimizer_params={"lr": lr})
    sparse = train(build_model(False, mba_reg=mba_reg), tmp_path / "s", optimizer_fn=opt, optimizer_params={"lr": lr},
                   sparse_embeddings=True, sparse_optimizer_fn=opt)
    assert sparse.sparse_optimizer is not None and dense.sparse_optimizer is None
    d, s = state(dense), state(sparse)
    for name in d:
        torch.testing.assert_close(s[name], d[name], rtol=0, atol=1e-5, msg=name)  # float noise ~1e-6; a step ~lr
    x = make_split(seed=1)[0]
    for table, rows in touched(x).items():
        key = f"embedding.tables.{table}.weight"
        moved = (s[key] != initial[key]).any(1)
        assert moved[rows].all(), table  # every touched row learned
        untouched = torch.ones(len(moved), dtype=torch.bool)
        untouched[rows] = False
        assert torch.equal(s[key][untouched], initial[key][untouched]), table  # padding row and unseen ids as they were
        assert not s[key][-1].any()  # the padding row is zeros


def test_sparse_adam_equals_adam_on_the_first_step_and_weight_decay_moves_untouched_rows_only_when_dense(tmp_path):
    """SparseAdam and Adam agree on a first step; Adam's weight_decay moves rows no batch holds, SparseAdam's tables not.

    SparseAdam adds ``eps`` before dividing by the second moment's bias correction, Adam after, so
    with the default ``eps=1e-8`` their first steps differ on elements whose gradient is below
    about 1e-6 (rows seen once or twice); with a negligible ``eps`` the two rules are the same.
    """
    x, y = make_split(seed=1, n=GLOBAL_BATCH)
    one_batch = TensorBatchLoader(x, y, batch_size=GLOBAL_BATCH)
    initial = build_model(False).state_dict()
    runs = {}
    for sparse, wd in ((False, 0.0), (True, 0.0), (False, 1e-5), (True, 1e-5)):
        trainer = CTRTrainer(build_model(False), n_epoch=1, model_path=str(tmp_path / f"{sparse}{wd}"), verbose=False,
                             seed=3, optimizer_params={"lr": 1e-3, "weight_decay": wd, "eps": 1e-14},
                             sparse_embeddings=sparse, sparse_optimizer_params={"lr": 1e-3, "eps": 1e-14})
        runs[sparse, wd] = state(trainer.fit(one_batch))
    for name in initial:
        torch.testing.assert_close(runs[True, 0.0][name], runs[False, 0.0][name], rtol=1e-5, atol=1e-7, msg=name)
    rows = touched(x)["item_id"]
    untouched = torch.ones(initial["embedding.tables.item_id.weight"].shape[0], dtype=torch.bool)
    untouched[rows] = False
    untouched[-1] = False  # the padding row never moves
    key = "embedding.tables.item_id.weight"
    assert torch.equal(runs[True, 1e-5][key][untouched], initial[key][untouched])  # sparse: decay on dense weights only
    shift = (runs[False, 1e-5][key][untouched] - initial[key][untouched]).abs()
    assert bool((shift > 5e-4).all())  # dense Adam: weight decay's tiny gradient, normalised, moves each by about lr


def test_the_sparse_gradient_holds_only_the_rows_of_the_batch():
    """The work per step follows the batch: the tables' gradients hold the looked-up rows, padding excluded."""
    model = build_model(False, mba_reg=1.0)
    for table in embedding_tables(model):
        table.sparse = True
    x, y = make_split(seed=1, n=GLOBAL_BATCH)
    xb = {k: torch.as_tensor(v) for k, v in x.items()}
    loss = torch.nn.functional.binary_cross_entropy(model(xb), torch.as_tensor(y)) + model.regularization_loss(xb)
    loss.backward()
    for table, rows in touched(x).items():
        grad = model.embedding.tables[table].weight.grad
        assert grad.is_sparse, table
        assert torch.equal(grad.coalesce().indices()[0], rows), table


def test_regularisation_gradient_under_sparse_tables_equals_the_dense_one():
    x = {k: torch.as_tensor(v) for k, v in make_split(seed=1, n=GLOBAL_BATCH)[0].items()}
    grads = []
    for sparse in (False, True):
        model = build_model(False, mba_reg=0.3)
        for table in embedding_tables(model):
            table.sparse = sparse
        model.regularization_loss(x).backward()
        grads.append([t.weight.grad.to_dense() for t in embedding_tables(model)])
    for g_dense, g_sparse in zip(*grads):
        torch.testing.assert_close(g_sparse, g_dense, rtol=1e-6, atol=0)


def test_the_seeds_trainer_is_unchanged_dense_and_one_optimiser():
    model = build_model(False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = CTRTrainer(model, optimizer_params={"lr": 1e-3, "weight_decay": 1e-5}, model_path=tmp, verbose=False)
    assert trainer.sparse_optimizer is None and trainer.optimizers == [trainer.optimizer]
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    assert sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"]) == \
        sum(p.numel() for p in model.parameters())
    assert not any(t.sparse for t in embedding_tables(model))


def test_sparse_trainer_splits_tables_from_dense_weights_and_schedules_both():
    model = build_model(False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = CTRTrainer(model, optimizer_params={"lr": 2e-3, "weight_decay": 1e-5}, model_path=tmp, verbose=False,
                             sparse_embeddings=True, scheduler_fn=torch.optim.lr_scheduler.StepLR,
                             scheduler_params={"step_size": 1, "gamma": 0.5})
    assert isinstance(trainer.sparse_optimizer, torch.optim.SparseAdam)
    assert trainer.sparse_optimizer.param_groups[0]["lr"] == 2e-3  # the dense optimiser's lr by default
    tables = {id(t.weight) for t in embedding_tables(model)}
    assert {id(p) for p in trainer.sparse_optimizer.param_groups[0]["params"]} == tables
    assert not tables & {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert len(trainer.schedulers) == 2 and trainer.scheduler is trainer.schedulers[0]


def test_sparse_updates_refused_where_ddp_cannot_reduce_sparse_gradients(monkeypatch):
    monkeypatch.setattr(torch.distributed, "get_backend", lambda *a, **k: "nccl")
    with pytest.raises(ValueError, match="gloo only"):
        check_sparse_backend(world_size=2)
    check_sparse_backend(world_size=1)  # one process: no all-reduce, nothing to refuse


@pytest.mark.slow
def test_two_processes_with_sparse_updates_stay_equal_and_equal_one_process(tmp_path):
    """torchrun --nproc_per_node=2 on gloo: DDP all-reduces the sparse gradients; ranks equal, as one process."""
    from sparse_worker import MBA_REG, trainer_for
    from test_distributed import ATOL, ONE_NODE, TORCHRUN, assert_clean_exit, run_bounded

    worker = Path(__file__).resolve().with_name("sparse_worker.py")
    done = run_bounded([[str(TORCHRUN), *ONE_NODE, "--nproc_per_node=2", str(worker), str(tmp_path), "mba"]],
                       cwd=tmp_path)[0]
    assert_clean_exit(done)
    params = [torch.load(tmp_path / f"params_rank{r}.pt") for r in (0, 1)]
    for name in params[0]:
        assert torch.equal(params[0][name], params[1][name]), name
    x, y = make_split(seed=1)
    with tempfile.TemporaryDirectory() as ckpt:
        want = trainer_for(build_model(sync_dice=True, mba_reg=MBA_REG), ckpt).fit(
            TensorBatchLoader(x, y, batch_size=GLOBAL_BATCH, shuffle=True, seed=7)).model.state_dict()
    initial = build_model(sync_dice=True).state_dict()
    assert max(float((want[n] - initial[n]).abs().max()) for n in want) > 1e-2
    for name, value in want.items():
        torch.testing.assert_close(params[0][name], value, rtol=0, atol=ATOL, msg=name)
