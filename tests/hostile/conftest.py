"""Fixtures of the hostile-input suite (a micro experiment, generated tone audio and its features, shared per
session) and the record of its cases: each case is marked ``@pytest.mark.hostile(CLASS)`` with the class of
failure it guards against (:data:`hostile_kit.CLASSES`), and each outcome is ``passed``, ``skipped`` or the kind
of failure seen (:data:`hostile_kit.KINDS`, from the bracketed tag of the failure). The totals are printed after
the run as ``hostile-input cases: ...`` and every case's class and outcome are written as JSON to
``$HOSTILE_REPORT`` when that is set (``scripts/hostile_report.py`` tabulates them)."""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch

TESTS = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


hostile_kit = _load("hostile_kit", Path(__file__).with_name("hostile_kit.py"))
_decode_kit = _load("hostile_decode_kit", TESTS / "decode" / "conftest.py")  # its experiment and audio makers

# ---------------------------------------------------------------------------------------------------------
# the count by class

_TAG = re.compile(r"\[(" + "|".join(hostile_kit.KINDS) + r")\]")
_results: dict[str, dict[str, str]] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "hostile(cls): the class of failure a hostile-input case guards against ("
                            + ", ".join(hostile_kit.CLASSES) + ")")


def _case_class(item) -> str:
    marker = item.get_closest_marker("hostile")
    if marker is None or len(marker.args) != 1 or marker.args[0] not in hostile_kit.CLASSES:
        raise pytest.UsageError(f"{item.nodeid}: mark it @pytest.mark.hostile(CLASS), CLASS one of "
                                f"{', '.join(hostile_kit.CLASSES)}")
    return marker.args[0]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "hostile" in Path(str(item.fspath)).parts:
            _case_class(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if "hostile" not in Path(str(item.fspath)).parts:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            outcome = "passed"
        elif report.skipped:
            outcome = "skipped"
        else:
            found = _TAG.search(str(report.longrepr))
            outcome = found.group(1) if found else "untagged"
        _results[item.nodeid] = {"class": _case_class(item), "outcome": outcome}


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    counts = collections.Counter(case["outcome"] for case in _results.values())
    failed = {k: v for k, v in sorted(counts.items()) if k not in ("passed", "skipped")}
    terminalreporter.write_line(
        f"hostile-input cases: {len(_results)}, passed {counts['passed']}, skipped {counts['skipped']}, failed "
        f"{sum(failed.values())}" + (f" ({', '.join(f'{k} {v}' for k, v in failed.items())})" if failed else "")
    )
    target = os.environ.get("HOSTILE_REPORT")
    if target:
        Path(target).write_text(json.dumps({"cases": _results}, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------------
# shared data


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine more only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def makers() -> SimpleNamespace:
    """The micro experiment and tone-audio makers of tests/decode/conftest.py."""
    return SimpleNamespace(make_experiment=_decode_kit.make_experiment, write_tone=_decode_kit.write_tone,
                           audio_cuts=_decode_kit.audio_cuts, train_chars=_decode_kit.train_chars)


@pytest.fixture(scope="session")
def exp(tmp_path_factory, makers):
    """A micro HENT-SRT experiment directory: config.yaml, epoch-1.pt, epoch-2.pt, src.model, tgt.model."""
    return makers.make_experiment(tmp_path_factory.mktemp("exp"))


@pytest.fixture(scope="session")
def tones(tmp_path_factory, makers) -> list[Path]:
    """Three 1.2-second tone files (8, 16 and 44.1 kHz)."""
    root = tmp_path_factory.mktemp("tones")
    return [makers.write_tone(root / f"tone{rate}.wav", 300.0 + rate / 200, 1.2, rate, seed=rate)
            for rate in (8000, 16000, 44100)]


@pytest.fixture(scope="session")
def raw_cuts(tmp_path_factory, makers, tones) -> Path:
    """The cuts (with audio, texts "hola" / "hello") of the three tones: input of ``hent-srt features``."""
    path = tmp_path_factory.mktemp("raw") / "cuts_raw.jsonl.gz"
    makers.audio_cuts(tones).to_file(path)
    return path


@pytest.fixture(scope="session")
def feats(tmp_path_factory, raw_cuts) -> Path:
    """``hent-srt features`` of :func:`raw_cuts`: ``<dir>/cuts_test.jsonl.gz``, its record and arrays."""
    from hent_srt.data.features import compute_features

    return compute_features(raw_cuts, tmp_path_factory.mktemp("feats"), "test")


@pytest.fixture
def train_yaml(exp, feats, tmp_path):
    """``train_yaml(**sections)``: a config for ``hent-srt train`` of the micro model on :func:`feats` (one step,
    no workers), with ``sections`` (``{"data": {...}}``) merged in; returns its path."""

    def write(**sections) -> Path:
        data = {"data": {"train_cuts": str(feats), "valid_cuts": "", "num_workers": 0, "max_duration": 10.0,
                         "min_utterance_duration": 0.1},
                "train": {"num_epochs": 1, "max_steps": 1, "log_interval": 1, "average_period": 1,
                          "valid_metrics_num_utts": 0}}
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        path = tmp_path / "train.yaml"
        path.write_text(json.dumps({"base": str(exp.dir / "config.yaml"), **data}), encoding="utf-8")
        return path

    return write
