"""din-tutorial: Deep Interest Network (Zhou et al., KDD 2018) for click-through-rate prediction.

The public names below are the seed tutorial's API (torch-rechub's, with ``din_tutorial`` in
place of ``torch_rechub``), so learners write ``from din_tutorial import DIN, CTRTrainer, ...``.
They are imported lazily: ``import din_tutorial`` stays fast and pulls in torch only when a
model, trainer or layer is first used.

Start with notebooks/00_index.ipynb.
"""
from __future__ import annotations

import importlib
import os

# OpenMP threads that sleep rather than spin while they wait (unless the user chose otherwise). On a small,
# busy machine (a 2-core laptop with a browser open) spinning threads burn the core their partner needs:
# a training batch of notebook 05 took 6-8 s with 2 spinning threads against 0.8 s with this policy, at
# load 15. The numbers computed do not depend on it. It must be set before torch loads OpenMP, which is
# why it sits here: din_tutorial imports torch lazily, on first use (import din_tutorial before torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    # features and configuration (notebooks 00, 02)
    "SparseFeature": "features",
    "SequenceFeature": "features",
    "DenseFeature": "features",
    "PAD_ID": "features",
    "is_fast_mode": "config",
    "fast_or_full": "config",
    "seed_everything": "config",
    "set_threads": "config",
    # data (notebook 01)
    "generate_seq_feature": "data",
    "df_to_dict": "data",
    "DataGenerator": "data",
    "TensorBatchLoader": "data",
    "make_synthetic_amazon": "datasets",
    "load_dataset": "datasets",
    "download": "datasets",
    # lean samples and sharded loaders for big logs and several processes (notebook 09_scaling_out)
    "prepare_samples": "samples",
    "prepare_samples_from_csv": "samples",
    "open_samples": "samples",
    "build_samples": "samples",
    "LeanSamples": "samples",
    "LeanBatchLoader": "samples",
    "SamplesMismatchError": "samples",
    "shard_indices": "data",
    # layers and models (notebooks 02-04)
    "EmbeddingLayer": "layers",
    "ActivationUnit": "layers",
    "Dice": "layers",
    "MLP": "layers",
    "DIN": "models",
    "BaseModel": "models",
    # training, metrics, export, visualisation (notebooks 05-08)
    "CTRTrainer": "training",
    "auc": "metrics",
    "gauc": "metrics",
    "logloss": "metrics",
    "rela_impr": "metrics",
    "export_onnx": "export",
    "verify_onnx": "export",
    "visualize_model": "visualize",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'din_tutorial' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__():
    return __all__
