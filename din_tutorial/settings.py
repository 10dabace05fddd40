"""The settings the package starts from, each in one place.

Two sets of sizes appear in the series, and they are different on purpose:

- the **official code's** (github.com/zhougr1993/DeepInterestNetwork, ``din/model.py``): an MLP
  head of 200 then 80 units and an attention MLP of 80 then 40, with Dice. ``DIN`` and
  ``BaseModel`` use them when ``mlp_params`` / ``attention_mlp`` are not given;
- the **seed tutorial's** (torch-rechub's DIN tutorial, sections 3 and 4): an MLP head of 256
  then 128 and an attention MLP of 32 then 16, dropout 0.2, Adam with lr 1e-3. The main job,
  the notebooks and :func:`din_tutorial.tuning.tuning_grid` run these.

Taught in notebooks/05_training.ipynb.
"""
from __future__ import annotations

__all__ = [
    "OFFICIAL_MLP_PARAMS",
    "OFFICIAL_ATTENTION_MLP",
    "SEED_MLP_PARAMS",
    "SEED_ATTENTION_MLP",
    "SEED_OPTIMIZER_PARAMS",
]

#: The MLP head when ``mlp_params`` is not given (the official code's 200-80 with Dice).
OFFICIAL_MLP_PARAMS = {"dims": [200, 80], "dropout": 0.0, "activation": "dice"}
#: The activation unit when ``attention_mlp`` is not given (the official code's 80-40).
OFFICIAL_ATTENTION_MLP = {"dims": [80, 40], "dropout": 0.0, "activation": "dice", "use_softmax": False}

#: The seed tutorial's head (shared/seed/DIN_tutorial.txt, section 3).
SEED_MLP_PARAMS = {"dims": [256, 128], "dropout": 0.2, "activation": "dice"}
#: The seed tutorial's activation unit (section 3).
SEED_ATTENTION_MLP = {"dims": [32, 16], "dropout": 0.2, "activation": "dice"}
#: The seed tutorial's optimiser settings (section 4).
SEED_OPTIMIZER_PARAMS = {"lr": 1e-3, "weight_decay": 1e-5}
