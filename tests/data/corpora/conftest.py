"""Fixtures for the corpus-preparation tests: miniature LDC releases written once per session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_ldc_fixtures() -> ModuleType:
    name = "hent_srt_tests_ldc_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("ldc_fixtures.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def ldc() -> ModuleType:
    """The fixture-generator module ``ldc_fixtures.py``."""
    return _load_ldc_fixtures()


@pytest.fixture(scope="session")
def iwslt22_dirs(ldc, tmp_path_factory) -> tuple[Path, Path]:
    """(corpus dir, split-list dir) of a miniature LDC2022E01."""
    return ldc.make_iwslt22(tmp_path_factory.mktemp("iwslt22"))


@pytest.fixture(scope="session")
def fisher_dirs(ldc, tmp_path_factory) -> dict[str, Path]:
    """Keyword arguments of prepare_fisher_callhome for a miniature Fisher/CALLHOME set-up."""
    return ldc.make_fisher_callhome(tmp_path_factory.mktemp("fisher"))


@pytest.fixture(scope="session")
def hkust_dirs(ldc, tmp_path_factory) -> dict[str, Path]:
    """Keyword arguments of prepare_hkust for a miniature HKUST set-up."""
    return ldc.make_hkust(tmp_path_factory.mktemp("hkust"))


@pytest.fixture(scope="session")
def fisher_miniature_dirs(ldc, tmp_path_factory) -> dict[str, Path]:
    """Keyword arguments of prepare_fisher_callhome for every split at the sizes of ``ldc.MINIATURE``."""
    return ldc.make_fisher_callhome_miniature(tmp_path_factory.mktemp("fisher_miniature"))
