"""Which process of a multi-process training job this is, from what its launcher set.

Lightning's own DDP launcher re-runs `python -m src.train <same argv>` for each extra rank when
rank 0 reaches trainer.fit; torchrun and SLURM start every rank at once. Every rank loads the
data and builds the model (training needs both); only global rank 0 evaluates the base model,
writes the run dir and opens the W&B run (src/train.py). Lightning's trainer.global_rank is
known only once trainer.fit has begun, too late for those decisions.
"""

from __future__ import annotations

import os

# torchrun (RANK), SLURM (SLURM_PROCID), Lightning's DDP launcher (NODE_RANK, and LOCAL_RANK in
# the processes it starts): each is 0 or unset in global rank 0.
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK")


def is_rank_zero() -> bool:
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def local_rank() -> int:
    """This process's index on its node: which of the node's GPUs it uses."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")))
