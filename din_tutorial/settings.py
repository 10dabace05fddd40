"""The settings the package starts from, each in one place and named for where it comes from.

Three families of sizes appear in the series, and they are different on purpose:

- the **paper's** Alibaba network (Zhou et al., KDD 2018, section 6.1: "Layers of MLP is set by
  192 x 200 x 80 x 2", embeddings of 12 for 16 feature groups): a head of 200 then 80 units.
  ``DIN()`` and ``BaseModel()`` use it, with Dice, when ``mlp_params`` is not given
  (:data:`PAPER_MLP_PARAMS`);
- the **official code's** (github.com/zhougr1993/DeepInterestNetwork, ``din/model.py``): item and
  category embeddings of 64 each, an activation unit of 80 then 40 units with sigmoid whose
  outputs go through a softmax (after masking and scaling by ``1/sqrt(128)``), and a head of 80
  then 40 then 1 with **sigmoid**; ``din/model_dice.py`` puts Dice in the head's two hidden layers
  only, its activation unit keeps sigmoid (:data:`OFFICIAL_CODE_MLP_PARAMS`,
  :data:`OFFICIAL_CODE_DICE_MLP_PARAMS`, :data:`OFFICIAL_CODE_ATTENTION_MLP`);
- the **seed tutorial's** (torch-rechub's DIN tutorial, sections 3 and 4): a head of 256 then 128
  and an activation unit of 32 then 16, dropout 0.2, Adam with lr 1e-3. The main job, the notebooks
  and :func:`din_tutorial.tuning.tuning_grid` run these (:data:`SEED_MLP_PARAMS`, ...).

``DIN()``'s activation unit, when ``attention_mlp`` is not given, has the official code's sizes
(80, 40) with the paper's choices: Dice and no softmax (:data:`DEFAULT_ATTENTION_MLP`).

Earlier versions called the paper's head ``OFFICIAL_MLP_PARAMS`` and the default unit
``OFFICIAL_ATTENTION_MLP``; both names remain as aliases with the same values (the models import
them), but neither is the official code's configuration.

Taught in notebooks/05_training.ipynb.
"""
from __future__ import annotations

__all__ = [
    "PAPER_MLP_PARAMS",
    "DEFAULT_ATTENTION_MLP",
    "OFFICIAL_CODE_MLP_PARAMS",
    "OFFICIAL_CODE_DICE_MLP_PARAMS",
    "OFFICIAL_CODE_ATTENTION_MLP",
    "OFFICIAL_MLP_PARAMS",
    "OFFICIAL_ATTENTION_MLP",
    "SEED_MLP_PARAMS",
    "SEED_ATTENTION_MLP",
    "SEED_OPTIMIZER_PARAMS",
]

#: The head when ``mlp_params`` is not given: the paper's Alibaba network, 200 then 80 units
#: (section 6.1), with Dice ("DIN with Dice", Tables 3 and 5).
PAPER_MLP_PARAMS = {"dims": [200, 80], "dropout": 0.0, "activation": "dice"}
#: The activation unit when ``attention_mlp`` is not given: the official code's sizes (80, 40),
#: with the paper's Dice and no softmax (section 4.3).
DEFAULT_ATTENTION_MLP = {"dims": [80, 40], "dropout": 0.0, "activation": "dice", "use_softmax": False}

#: The official code's head, ``din/model.py``: 80 then 40 units with sigmoid, then one logit.
OFFICIAL_CODE_MLP_PARAMS = {"dims": [80, 40], "dropout": 0.0, "activation": "sigmoid"}
#: The official code's head with Dice, ``din/model_dice.py`` (its activation unit keeps sigmoid).
OFFICIAL_CODE_DICE_MLP_PARAMS = {"dims": [80, 40], "dropout": 0.0, "activation": "dice"}
#: The official code's activation unit (``attention`` in ``din/model.py``): 80 then 40 with sigmoid and a
#: masked softmax. Its softmax also divides the scores by ``sqrt(128)`` first; the package's does not scale.
OFFICIAL_CODE_ATTENTION_MLP = {"dims": [80, 40], "dropout": 0.0, "activation": "sigmoid", "use_softmax": True}

#: Old name of :data:`PAPER_MLP_PARAMS` (the same values; it was never the official code's head).
OFFICIAL_MLP_PARAMS = PAPER_MLP_PARAMS
#: Old name of :data:`DEFAULT_ATTENTION_MLP` (the same values; the official code's unit is sigmoid + softmax).
OFFICIAL_ATTENTION_MLP = DEFAULT_ATTENTION_MLP

#: The seed tutorial's head (shared/seed/DIN_tutorial.txt, section 3).
SEED_MLP_PARAMS = {"dims": [256, 128], "dropout": 0.2, "activation": "dice"}
#: The seed tutorial's activation unit (section 3).
SEED_ATTENTION_MLP = {"dims": [32, 16], "dropout": 0.2, "activation": "dice"}
#: The seed tutorial's optimiser settings (section 4).
SEED_OPTIMIZER_PARAMS = {"lr": 1e-3, "weight_decay": 1e-5}
