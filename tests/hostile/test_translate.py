"""Hostile audio for ``hent-srt translate``: files that are not audio, empty, without samples, too short, missing
or directories; a bad file is named and the others are still translated."""

from __future__ import annotations

import json

import pytest
from hostile_kit import empty_wav, fail, run_cli, save_bytes, succeeded, user_error


def translate(capsys, exp, *paths, extra=()):
    return run_cli(capsys, "translate", *paths, "--exp-dir", exp.dir, "--checkpoint", exp.dir / "epoch-2.pt", *extra)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("kind", ["garbage", "empty-file", "zero-samples", "too-short", "directory", "missing",
                                  "fake-sphere", "truncated-header"])
def test_unreadable_audio_is_named(exp, makers, tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "garbage":
        save_bytes(path, b"this is not audio " * 200)
    elif kind == "empty-file":
        save_bytes(path, b"")
    elif kind == "zero-samples":
        empty_wav(path)
    elif kind == "too-short":
        makers.write_tone(path, 300.0, 0.02, 16000)
    elif kind == "directory":
        path.mkdir()
    elif kind == "fake-sphere":
        path = save_bytes(tmp_path / "fake.sph", b"NIST_1A\n   1024\nsample_rate -i 8000\nend_head\n")
    elif kind == "truncated-header":
        save_bytes(path, b"RIFF\x24\x00\x00\x00WAVEfmt ")
    user_error(translate(capsys, exp, path), str(path))


@pytest.mark.hostile("silent")
def test_one_bad_file_among_good_ones(exp, tones, tmp_path, capsys):
    bad = save_bytes(tmp_path / "bad.wav", b"junk")
    outcome = translate(capsys, exp, tones[0], bad, tones[1], extra=["--json"])
    user_error(outcome, str(bad), code=1)
    results = [json.loads(line) for line in outcome.out.splitlines()]
    decoded = [r["file"] for r in results if "error" not in r]
    if decoded != [str(tones[0]), str(tones[1])]:
        fail("silent", f"the good files were not all translated: {results}")


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("option", "value"), [("--blank-penalty", "nan"), ("--beam", "0"), ("--max-duration", "-1")])
def test_bad_option(exp, tones, capsys, option, value):
    user_error(translate(capsys, exp, tones[0], extra=[option, value]), option)


@pytest.mark.hostile("silent")
def test_good_audio_at_any_rate(exp, tones, capsys):
    outcome = translate(capsys, exp, *tones, extra=["--json"])
    succeeded(outcome)
    if len(outcome.out.splitlines()) != 3:
        fail("silent", f"expected three results:\n{outcome.out}")
