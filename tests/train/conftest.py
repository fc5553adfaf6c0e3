"""Fixtures shared by the trainer and checkpoint tests."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

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


def _load_standins() -> ModuleType:
    """``trainer_standins.py`` of this directory, imported once under its own name (test_trainer.py reads it from
    ``sys.modules``; spawned DDP workers import it by that name)."""
    name = "trainer_standins"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_load_standins()


@pytest.fixture
def standins() -> ModuleType:
    """The stand-in model, loader and configs of ``trainer_standins.py``."""
    return _load_standins()


def _tiny_corpus() -> ModuleType:
    """tests/data/tiny_corpus.py (sine tones with es/ar/zh transcripts and English translations)."""
    name = "hent_srt_tests_tiny_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "data" / "tiny_corpus.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def micro_corpus(tmp_path_factory) -> dict[str, Path]:
    """10 generated tone cuts (audio only: features on the fly) and source / target BPE models trained on them,
    for ``trainer_standins.micro_run_config``."""
    from lhotse import CutSet

    from hent_srt.data.tokenizer import train_bpe

    root = tmp_path_factory.mktemp("micro_corpus")
    cuts_path = _tiny_corpus().write_cuts(root, num=10)
    cuts = CutSet.from_file(cuts_path)
    train_bpe(cuts, "source", 150, root / "bpe_src")
    train_bpe(cuts, "target", 100, root / "bpe_tgt")
    return {"cuts": cuts_path, "src": root / "bpe_src" / "bpe.model", "tgt": root / "bpe_tgt" / "bpe.model"}
