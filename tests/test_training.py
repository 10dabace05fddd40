"""CTRTrainer on a tiny model: fitting, early stopping, the checkpoint, determinism, bad input."""
import numpy as np
import pytest
import torch

from din_tutorial import CTRTrainer, DataGenerator
from din_tutorial.training import resolve_device


class TinyCTR(torch.nn.Module):
    """A logistic model over user and item embeddings: enough to test the loop."""

    input_names = ["user_id", "item_id"]

    def __init__(self, n_users=50, n_items=30):
        super().__init__()
        self.user = torch.nn.Embedding(n_users, 4)
        self.item = torch.nn.Embedding(n_items, 4)
        self.drop = torch.nn.Dropout(0.1)

    def forward(self, x):
        return torch.sigmoid((self.drop(self.user(x["user_id"])) * self.item(x["item_id"])).sum(-1))


def loaders(n=2000, seed=0, keys=("user_id", "item_id")):
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, 50, n), rng.integers(0, 30, n)
    y = ((u % 3) == (i % 3)).astype(np.float32)  # a learnable rule
    x = {"user_id": u, "item_id": i}
    x = {k: v for k, v in x.items() if k in keys}
    tr = {k: v[:1500] for k, v in x.items()}
    va = {k: v[1500:] for k, v in x.items()}
    return DataGenerator(tr, y[:1500]).generate_dataloader(x_val=va, y_val=y[1500:], batch_size=128)[:2]


def make(tmp_path, **kw):
    torch.manual_seed(0)
    kw = {"n_epoch": 5, "earlystop_patience": 5, "model_path": tmp_path / "ckpt", "verbose": False,
          "optimizer_params": {"lr": 0.05}} | kw
    return CTRTrainer(TinyCTR(), **kw)


def test_fit_learns_and_keeps_history(tmp_path):
    tr, va = loaders()
    trainer = make(tmp_path).fit(tr, va)
    h = trainer.history
    assert len(h) == 5 and h[-1]["train_loss"] < h[0]["train_loss"]
    assert {"val_auc", "val_gauc", "val_logloss", "seconds"} <= set(h[0])
    assert trainer.evaluate(trainer.model, va) > 0.9
    assert isinstance(trainer.evaluate(trainer.model, va), float)
    full = trainer.evaluate(trainer.model, va, all_metrics=True)
    assert {"auc", "gauc", "logloss", "n"} <= set(full) and full["n"] == 500
    assert trainer.checkpoint_file.exists()
    assert trainer.predict(trainer.model, va).shape == (500,)


def test_best_epoch_is_restored_not_the_last(tmp_path, monkeypatch):
    tr, va = loaders()
    trainer = make(tmp_path, n_epoch=4, earlystop_patience=10)
    scores = iter([0.8, 0.9, 0.7, 0.6])  # epoch 1 is the best
    snapshots = []
    orig = trainer.train_one_epoch

    def train_and_snapshot(dl, epoch=0):
        loss = orig(dl, epoch)
        snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
        return loss

    monkeypatch.setattr(trainer, "train_one_epoch", train_and_snapshot)
    monkeypatch.setattr(trainer, "evaluate_metrics", lambda m, dl: {"auc": next(scores), "logloss": 0.5, "n": 1})
    trainer.fit(tr, va)
    assert trainer.best_epoch == 1
    final = trainer.model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[3][k]) for k in final)


def test_early_stopping(tmp_path, monkeypatch):
    tr, va = loaders()
    trainer = make(tmp_path, n_epoch=10, earlystop_patience=2)
    scores = iter([0.8, 0.7, 0.75, 0.9, 0.95])
    monkeypatch.setattr(trainer, "evaluate_metrics", lambda m, dl: {"auc": next(scores), "logloss": 0.5, "n": 1})
    trainer.fit(tr, va)
    assert len(trainer.history) == 3 and trainer.best_epoch == 0


def test_same_seed_same_metrics_to_the_last_digit(tmp_path):
    runs = []
    for k in range(2):
        tr, va = loaders()
        runs.append(make(tmp_path / str(k), n_epoch=2).fit(tr, va).history)
    for a, b in zip(*runs):
        assert a["train_loss"] == b["train_loss"] and a["val_auc"] == b["val_auc"]


def test_unwritable_model_path_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    tr, va = loaders()
    trainer = make(tmp_path, model_path=blocker / "ckpt")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(PermissionError, match="not a writable folder"):
        trainer.fit(tr, va)
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())  # nothing trained


def test_loader_without_a_needed_key_names_it(tmp_path):
    tr, va = loaders(keys=("user_id",))
    with pytest.raises(KeyError, match=r"lacks input\(s\) \['item_id'\]"):
        make(tmp_path).fit(tr, va)


def test_devices_and_arguments(tmp_path):
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="is not a device"):
        resolve_device("gpu please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
    with pytest.raises(ValueError, match="n_epoch"):
        make(tmp_path, n_epoch=0)


@pytest.mark.parametrize(
    "kw,error,pattern",
    [
        ({"optimizer_params": {"lr": "0.01"}}, TypeError, r"optimizer_params\['lr'\] is the string '0.01'.*without quotes"),
        ({"optimizer_params": {"lr": 1e-3, "betas": ("0.9", 0.99)}}, TypeError, r"optimizer_params\['betas'\]"),
        ({"optimizer_params": {"learning_rate": 1e-3}}, TypeError, r"Adam rejected optimizer_params=\{'learning_rate'"),
        ({"optimizer_params": {"lr": -1.0}}, ValueError, r"Adam rejected optimizer_params=\{'lr': -1.0\}"),
        ({"optimizer_params": [0.01]}, TypeError, r"optimizer_params must be a dict"),
        ({"scheduler_fn": torch.optim.lr_scheduler.StepLR, "scheduler_params": {"step_size": "1"}}, TypeError,
         r"scheduler_params\['step_size'\] is the string"),
        ({"n_epoch": "3"}, ValueError, r"n_epoch must be a positive integer, got '3'"),
        ({"earlystop_patience": 0}, ValueError, r"earlystop_patience must be a positive integer"),
        ({"seed": "2022"}, TypeError, r"seed must be an integer or None"),
    ],
)
def test_wrong_typed_settings_get_our_error_naming_the_setting(tmp_path, kw, error, pattern):
    with pytest.raises(error, match=pattern):
        make(tmp_path, **kw)


def test_a_models_batches_do_not_depend_on_what_trained_before_on_the_same_loader(tmp_path):
    """The shuffle is a function of (trainer seed, epoch): training another model first, for any number of
    epochs, leaves this model's batches, and so its results, unchanged."""
    tr, va = loaders()
    alone = make(tmp_path / "alone", n_epoch=2).fit(tr, va).history
    make(tmp_path / "other", n_epoch=3).fit(tr, va)  # another model on the same loaders, for 3 epochs
    after = make(tmp_path / "after", n_epoch=2).fit(tr, va).history
    for a, b in zip(alone, after):
        assert a["train_loss"] == b["train_loss"] and a["val_auc"] == b["val_auc"]
    other_seed = make(tmp_path / "seeded", n_epoch=2, seed=7).fit(tr, va).history
    assert other_seed[0]["train_loss"] != alone[0]["train_loss"]  # the seed does reach the order (and dropout)


def test_parallel_wrapper_is_gone(tmp_path):
    """Issue 16 item 5: TorchRec's DistributedModelParallel cannot be a drop-in wrapper (see sharded_tables.py)."""
    with pytest.raises(TypeError, match="parallel_wrapper"):
        make(tmp_path, parallel_wrapper=lambda model, device: model)


def test_a_nan_training_loss_without_validation_data_is_a_clear_error(tmp_path):
    """Issue 16 item 8: not load_state_dict(None) after the loop."""
    tr, _ = loaders()

    def nan_loss(p, y):  # NaN in value, a finite gradient: the loop runs to the end of the epoch
        return torch.nn.functional.binary_cross_entropy(p, y) + torch.tensor(float("nan"))

    trainer = make(tmp_path, n_epoch=2, loss_fn=nan_loss)
    with pytest.warns(RuntimeWarning, match="training loss is nan"), \
            pytest.raises(FloatingPointError, match=r"training loss of epoch 0 is nan.*Lower the learning rate"):
        trainer.fit(tr)


def test_a_nan_loss_after_a_good_epoch_keeps_the_good_epoch(tmp_path):
    tr, va = loaders()
    trainer = make(tmp_path, n_epoch=3)
    orig, calls = trainer.train_one_epoch, []

    def second_epoch_diverges(dl, epoch=0):
        calls.append(epoch)
        loss = orig(dl, epoch)
        if epoch == 1:
            with torch.no_grad():
                trainer.model.user.weight.fill_(float("nan"))
            return float("nan")
        return loss

    trainer.train_one_epoch = second_epoch_diverges
    with pytest.warns(RuntimeWarning, match="epoch 1: the training loss is nan"):
        trainer.fit(tr, va)
    assert calls == [0, 1] and trainer.best_epoch == 0
    assert not torch.isnan(trainer.model.user.weight).any()


def test_auto_device_under_torchrun_is_this_process_gpu(monkeypatch):
    """Issue 16 item 4: `--device auto` put every rank on cuda:0; it must be cuda:LOCAL_RANK."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device("auto") == torch.device("cuda", 0)


class PairsDataset(torch.utils.data.Dataset):
    """A user's own map-style dataset: one (inputs, label) pair per index."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {k: torch.tensor(v[i]) for k, v in self.x.items()}, torch.tensor(self.y[i])


def test_a_standard_dataloader_trains_and_evaluates_as_our_loader(tmp_path):
    """Issue 18 item 4: any torch DataLoader is a loader (in one process; tests/test_distributed.py: two)."""
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 50, 600), rng.integers(0, 30, 600)
    y = ((u % 3) == (i % 3)).astype(np.float32)
    x = {"user_id": u, "item_id": i}
    ours = DataGenerator(x, y).generate_dataloader(x_val=x, y_val=y, batch_size=100, shuffle=False)[:2]
    theirs = torch.utils.data.DataLoader(PairsDataset(x, y), batch_size=100)
    a, b = make(tmp_path / "a", n_epoch=2), make(tmp_path / "b", n_epoch=2)
    a.model.drop.p = b.model.drop.p = 0.0  # a DataLoader draws its base seed from torch's RNG: other dropout masks
    a.fit(ours[0], ours[1])
    b.fit(theirs, theirs)
    for ra, rb in zip(a.history, b.history):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], abs=1e-6)
        assert ra["val_auc"] == pytest.approx(rb["val_auc"], abs=1e-6)
    np.testing.assert_allclose(a.predict(a.model, ours[1]), b.predict(b.model, theirs), atol=1e-6)


def test_the_main_job_trains_its_tables_with_sparse_updates_and_the_notebooks_path_stays_dense(tmp_path, monkeypatch):
    """Issue 18 item 2: `python -m din_tutorial` (pipeline.run) asks for sparse tables; train_and_evaluate's default is dense."""
    from din_tutorial import pipeline

    seen = []
    original = CTRTrainer.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.sparse_embeddings)

    monkeypatch.setattr(CTRTrainer, "__init__", spy)
    torch.set_num_threads(1)
    data = pipeline.tutorial_data(n_users=60)
    results = pipeline.run(data, epochs=1, out_dir=tmp_path / "job", export=False, draw=False, verbose=False)
    assert results["settings"]["sparse_embeddings"] is True and seen == [True, True]  # DIN and BaseModel
    import inspect

    assert inspect.signature(pipeline.train_and_evaluate).parameters["sparse_embeddings"].default is False
    assert inspect.signature(original).parameters["sparse_embeddings"].default is False


def test_adam_runs_fused_by_default_and_updates_as_the_loop_over_tensors(tmp_path):
    """The fused Adam (one kernel for every tensor) is the default; its weights equal the plain loop's."""
    tr, va = loaders()
    kw = dict(n_epoch=2, optimizer_params={"lr": 0.05, "weight_decay": 1e-3})
    fused = make(tmp_path / "a", **kw)
    plain = make(tmp_path / "b", n_epoch=2, optimizer_params={"lr": 0.05, "weight_decay": 1e-3, "fused": False})
    assert fused.optimizer.defaults["fused"] is True and not plain.optimizer.defaults["fused"]
    assert "fused" not in fused.optimizer_params  # the user's settings are kept as given
    fused.fit(tr, va)
    plain.fit(tr, va)
    for (name, a), b in zip(fused.model.state_dict().items(), plain.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)  # 24 steps: float32 rounding only
    sgd = make(tmp_path / "c", optimizer_fn=torch.optim.SGD, optimizer_params={"lr": 0.05})
    assert "fused" not in sgd.optimizer.defaults or not sgd.optimizer.defaults["fused"]
