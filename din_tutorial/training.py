"""CTRTrainer: the seed's training loop, with early stopping on validation AUC and a checkpoint.

``fit`` trains for ``n_epoch`` epochs with a ``tqdm.auto`` progress bar (a widget in
JupyterLab), evaluates AUC, GAUC and log loss on the validation loader after each epoch,
keeps them in ``trainer.history``, saves the best epoch's weights atomically under
``model_path`` and restores them at the end: the model you get back is the best one, not
the last one.

Taught in notebooks/05_training.ipynb.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import metrics as M

__all__ = ["CTRTrainer", "resolve_device"]


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"`` or ``"auto"`` into a device, with a clear error."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device={device!r} is not a device; use 'cpu', 'cuda:0', 'mps' or 'auto'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine; use 'cpu' or 'auto'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} but MPS is not available on this machine; use 'cpu' or 'auto'")
    return dev


def _check_writable(model_path: str | os.PathLike) -> Path:
    """Create ``model_path`` if needed and prove we can write there, before any training starts."""
    path = Path(model_path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise PermissionError(
            f"model_path={str(model_path)!r} is not a writable folder ({e.strerror or e}); "
            f"pass a folder you can write to, e.g. model_path='./saved/din'"
        ) from None
    return path


def _save_atomic(state: dict, file: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a checkpoint."""
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, file)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class CTRTrainer:
    """Train and evaluate a CTR model (DIN, BaseModel) on ``(x, y)`` loaders.

    Args:
        model: a module mapping a batch dict to probabilities ``(batch,)``.
        optimizer_fn, optimizer_params: the optimiser class and its arguments
            (default Adam, ``{"lr": 1e-3, "weight_decay": 1e-5}``).
        scheduler_fn, scheduler_params: an optional learning-rate scheduler, stepped once per epoch.
        n_epoch: the most epochs to train.
        earlystop_patience: stop after this many epochs without a better validation AUC.
        device: "cpu", "cuda:0", "mps" or "auto".
        model_path: folder for the best checkpoint (``model.pth``); created if missing.
        loss_fn: defaults to binary cross-entropy on probabilities.
        seed: seeds dropout (and anything else random in training) at the start of ``fit``.
        user_col: the batch key that holds user ids, for GAUC (skipped if absent).
        verbose: show progress bars and a line per epoch.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer_fn: Callable = torch.optim.Adam,
        optimizer_params: dict | None = None,
        scheduler_fn: Callable | None = None,
        scheduler_params: dict | None = None,
        n_epoch: int = 10,
        earlystop_patience: int = 10,
        device: str = "cpu",
        model_path: str = "./",
        loss_fn: Callable | None = None,
        seed: int | None = 2022,
        user_col: str = "user_id",
        verbose: bool = True,
    ):
        if int(n_epoch) != n_epoch or n_epoch < 1:
            raise ValueError(f"n_epoch must be a positive integer, got {n_epoch!r}")
        if int(earlystop_patience) != earlystop_patience or earlystop_patience < 1:
            raise ValueError(f"earlystop_patience must be a positive integer, got {earlystop_patience!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.model_path = Path(model_path)
        self.optimizer_params = dict({"lr": 1e-3, "weight_decay": 1e-5} if optimizer_params is None else optimizer_params)
        self.optimizer = optimizer_fn(self.model.parameters(), **self.optimizer_params)
        self.scheduler = scheduler_fn(self.optimizer, **(scheduler_params or {})) if scheduler_fn else None
        self.loss_fn = loss_fn or torch.nn.BCELoss()
        self.n_epoch = int(n_epoch)
        self.earlystop_patience = int(earlystop_patience)
        self.seed = seed
        self.user_col = user_col
        self.verbose = verbose
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.best_auc: float = -math.inf

    # ------------------------------------------------------------------ helpers
    @property
    def checkpoint_file(self) -> Path:
        """Where the best epoch's weights are saved."""
        return self.model_path / "model.pth"

    def _check_batch_keys(self, model: torch.nn.Module, data_loader, what: str) -> None:
        needed = list(getattr(model, "input_names", []) or [])
        keys = getattr(data_loader, "keys", None)
        if keys is None:
            first = next(iter(data_loader))
            keys = list((first[0] if isinstance(first, (tuple, list)) else first).keys())
        missing = [k for k in needed if k not in keys]
        if missing:
            raise KeyError(
                f"the {what} loader lacks input(s) {missing} that the model needs; its batches hold {list(keys)}. "
                f"Build it from a frame with those columns (df_to_dict(frame)) or drop the features from the model"
            )

    def _to_device(self, x: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) for k, v in x.items()}

    def _progress(self, iterable, desc: str, total: int | None = None):
        if not self.verbose:
            return iterable
        from tqdm.auto import tqdm

        # leave=True: a closed bar would leave an empty widget view in JupyterLab; the finished bars
        # stay as a record of each epoch's speed
        return tqdm(iterable, desc=desc, total=total, leave=True)

    # ------------------------------------------------------------------ training
    def train_one_epoch(self, data_loader, epoch: int = 0) -> float:
        """One pass over ``data_loader``; returns the mean training loss (without regularisation)."""
        self.model.train()
        reg_fn = getattr(self.model, "regularization_loss", None)
        total, count = 0.0, 0
        bar = self._progress(data_loader, f"epoch {epoch}", total=len(data_loader))
        for x, y in bar:
            x, y = self._to_device(x), y.to(self.device, non_blocking=True)
            y_pred = self.model(x)
            loss = self.loss_fn(y_pred, y)
            full = loss + reg_fn(x) if reg_fn is not None else loss
            self.optimizer.zero_grad(set_to_none=True)
            full.backward()
            self.optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
            if self.verbose and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        if count == 0:
            raise ValueError("the training loader yielded no batch; is the training frame empty?")
        return total / count

    def fit(self, train_dataloader, val_dataloader=None) -> "CTRTrainer":
        """Train, validate each epoch, stop early on validation AUC, and restore the best epoch."""
        self._check_batch_keys(self.model, train_dataloader, "training")
        if val_dataloader is not None:
            self._check_batch_keys(self.model, val_dataloader, "validation")
        _check_writable(self.model_path)  # fail now, not after an hour of training
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self.history, self.best_epoch, self.best_auc = [], None, -math.inf
        stale = 0
        for epoch in range(self.n_epoch):
            start = time.perf_counter()
            train_loss = self.train_one_epoch(train_dataloader, epoch)
            record = {"epoch": epoch, "train_loss": train_loss}
            if val_dataloader is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate_metrics(self.model, val_dataloader).items()})
            if self.scheduler is not None:
                self.scheduler.step()
            record["seconds"] = time.perf_counter() - start
            self.history.append(record)
            score = record.get("val_auc", -train_loss)  # without validation data: the lowest training loss
            if self.verbose:
                shown = ", ".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}"
                                  for k, v in record.items() if k != "epoch")
                print(f"epoch {epoch}: {shown}")
            if score > self.best_auc:
                self.best_auc, self.best_epoch, stale = score, epoch, 0
                _save_atomic(self.model.state_dict(), self.checkpoint_file)
            else:
                stale += 1
                if stale >= self.earlystop_patience:
                    if self.verbose:
                        print(f"early stopping: no better validation AUC for {stale} epoch(s); best epoch {self.best_epoch}")
                    break
        state = torch.load(self.checkpoint_file, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state)
        return self

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def predict(self, model: torch.nn.Module, data_loader) -> np.ndarray:
        """Probabilities for every sample of ``data_loader``, in its order."""
        self._check_batch_keys(model, data_loader, "prediction")
        model.eval()
        out = []
        for batch in self._progress(data_loader, "predict", total=len(data_loader)):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            out.append(model(self._to_device(x)).float().cpu().numpy())
        return np.concatenate(out) if out else np.empty(0, dtype=np.float32)

    @torch.no_grad()
    def evaluate_metrics(self, model: torch.nn.Module, data_loader) -> dict:
        """AUC, GAUC (when batches hold ``user_col``), log loss and the sample count."""
        self._check_batch_keys(model, data_loader, "evaluation")
        model.eval()
        preds, labels, users = [], [], []
        for x, y in self._progress(data_loader, "evaluate", total=len(data_loader)):
            preds.append(model(self._to_device(x)).float().cpu().numpy())
            labels.append(y.numpy())
            if self.user_col in x:
                users.append(x[self.user_col].numpy())
        p, y = np.concatenate(preds), np.concatenate(labels)
        result = {"auc": M.auc(y, p), "logloss": M.logloss(y, p), "n": int(y.size)}
        if users:
            result["gauc"] = M.gauc(y, p, np.concatenate(users))
        return result

    def evaluate(self, model: torch.nn.Module, data_loader, all_metrics: bool = False):
        """The AUC as a float, as the seed prints it; ``all_metrics=True`` returns the dict of ``evaluate_metrics``."""
        result = self.evaluate_metrics(model, data_loader)
        return result if all_metrics else result["auc"]

    # ------------------------------------------------------------------ export
    def export_onnx(self, output_path, data_loader=None, dynamic_batch: bool = True, **kwargs):
        """Export ``self.model`` to one ONNX file; see :func:`din_tutorial.export.export_onnx`."""
        from .export import export_onnx

        if self.best_epoch is None:
            warnings.warn("exporting a model that was never trained with fit(): its predictions are random",
                          UserWarning, stacklevel=2)
        return export_onnx(self.model, output_path, data_loader=data_loader, dynamic_batch=dynamic_batch, **kwargs)
