"""Several LoRA adapters of one base model, loaded side by side and switched per call.

Serving n runs that share a base model then holds one copy of the base weights instead of n.
The adapters stay unmerged (a merged adapter cannot be switched off), so a call costs the LoRA
matmuls on top of the base model's; one adapter alone is better merged (src.tasks.*.predictor).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import PeftModel


class AdapterSet:
    """One PeftModel holding every adapter; `use(name)` switches to one and holds a lock, so
    concurrent callers never run with each other's adapter."""

    def __init__(self, base: torch.nn.Module, adapters: dict[str, Path]):
        if not adapters:
            raise ValueError("AdapterSet needs at least one adapter")
        # peft's adapter names become module keys, which may not hold dots: number them instead.
        self._keys = {name: f"adapter_{i}" for i, name in enumerate(adapters)}
        (first, path), *rest = adapters.items()
        self.model = PeftModel.from_pretrained(base, path, adapter_name=self._keys[first])
        for name, path in rest:
            self.model.load_adapter(path, adapter_name=self._keys[name])
        self.model.eval()  # modules made by load_adapter start in train mode (dropout on)
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._keys)

    @contextmanager
    def use(self, name: str) -> Iterator[torch.nn.Module]:
        """The model with adapter `name` active, for the duration of the block."""
        with self._lock:
            self.model.set_adapter(self._keys[name])
            yield self.model
