"""Fixtures for the data-layer tests: ``tiny`` is the generated-corpus helper module ``tiny_corpus.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_tiny_corpus() -> ModuleType:
    name = "hent_srt_tests_tiny_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("tiny_corpus.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def tiny() -> ModuleType:
    return _load_tiny_corpus()
