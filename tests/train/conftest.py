"""Fixtures shared by the trainer and checkpoint tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


class _MakesDirectory:
    """A crafted pickle: loading it with ``weights_only=False`` calls ``os.mkdir(path)``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _write_crafted(path: Path, target: Path) -> None:
    torch.save({"model": {"w": torch.ones(2)}, "batch_idx_train": 3, "payload": _MakesDirectory(str(target))}, path)


@pytest.fixture
def write_crafted() -> Callable[[Path, Path], None]:
    """``write_crafted(path, target)``: a checkpoint-looking file whose unpickling would create ``target``."""
    return _write_crafted
