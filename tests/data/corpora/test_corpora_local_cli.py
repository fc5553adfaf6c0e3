"""The thin stage-0 entry points in local/: success writes manifests, a user error is one line and exit 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

LOCAL = Path(__file__).resolve().parents[3] / "local"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hent_srt_local_{name}", LOCAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_iwslt22_and_multi_conv_write_manifests(iwslt22_dirs, tmp_path):
    corpus, splits = iwslt22_dirs
    rc = _script("prepare_iwslt22_ta").main(
        ["--corpus-dir", str(corpus), "--split-dir", str(splits), "--output-dir", str(tmp_path / "ta")]
    )
    assert rc == 0
    assert (tmp_path / "ta" / "iwslt22_ta_supervisions_test1.jsonl.gz").is_file()
    rc = _script("prepare_multi_conv").main(
        ["--iwslt22-ta-dir", str(tmp_path / "ta"), "--output-dir", str(tmp_path)]
    )
    assert rc == 0 and (tmp_path / "multi_conv_recordings_iwslt22_ta_test1.jsonl.gz").is_file()


@pytest.mark.parametrize(
    "name, argv",
    [
        ("prepare_iwslt22_ta", ["--corpus-dir", "{missing}", "--split-dir", "{missing}"]),
        (
            "prepare_fisher_callhome",
            [
                "--translation-dir",
                "{missing}",
                "--fisher-audio-dir",
                "{missing}",
                "--fisher-transcript-dir",
                "{missing}",
            ],
        ),
        (
            "prepare_hkust",
            [
                "--audio-dir",
                "{missing}",
                "--transcript-dir",
                "{missing}",
                "--translation-tsv",
                "{missing}/t.tsv",
            ],
        ),
        ("prepare_multi_conv", ["--hkust-dir", "{missing}"]),
    ],
)
def test_missing_input_is_a_clear_error(name, argv, tmp_path, capsys):
    missing = str(tmp_path / "missing")
    argv = [a.format(missing=missing) for a in argv] + ["--output-dir", str(tmp_path / "out")]
    assert _script(name).main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{name}: ") and missing in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()

