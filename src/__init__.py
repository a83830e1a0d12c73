"""medtune: LoRA fine-tuning of transformer models on clinical tasks (README.md).

Every entry point (python -m src.<entry>) imports this package first, so the defaults below
are set before transformers or tokenizers is imported: offline unless the user turned the hub
on, and no tokenizer thread pools competing with training for the cores.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
