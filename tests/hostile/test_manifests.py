"""Damaged cut manifests given to every command that reads one: truncated gzip, a line that is not JSON, not a cut,
a cut without its keys, bytes that are not UTF-8, not gzip, an empty manifest, a directory, a missing file.

Each command must exit 2 naming the file (and the line, where there is one), print no traceback, and leave what
an earlier run wrote where it writes untouched, with no temporary behind.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from hostile_kit import DAMAGES, damaged_manifest, run_cli, snapshot, unchanged, user_error


def _features(ctx, bad, out):
    return ["features", "--cuts-in", bad, "--out-dir", out, "--split", "test"]


def _bpe(ctx, bad, out):
    return ["bpe", "--cuts", bad, "--side", "source", "--vocab-size", "20", "--out-dir", out, "--force"]


def _decode(ctx, bad, out):
    return ["decode", "--exp-dir", ctx.exp.dir, "--checkpoint", ctx.exp.dir / "epoch-2.pt", "--cuts", bad,
            "--out-dir", out]


def _train(ctx, bad, out):
    return ["train", "--config", ctx.train_yaml(data={"train_cuts": str(bad)}), "--exp-dir", out, "--no-progress"]


def _valid(ctx, bad, out):
    return ["train", "--config", ctx.train_yaml(data={"valid_cuts": str(bad)}), "--exp-dir", out, "--no-progress"]


def _export(ctx, bad, out):
    return ["export", "--exp-dir", ctx.exp.dir, "--checkpoint", ctx.exp.dir / "epoch-2.pt", "--torchscript",
            "--verify-cuts", bad, "--verify-num", "1000000", "--out-dir", out]


def _synth_noise(ctx, bad, out):
    return ["prepare", "synth-noise", "--out-dir", out / "noise", "--speech-cuts", bad, "--num-noise", "0",
            "--num-music", "0", "--num-babble", "1"]


COMMANDS = {"features": _features, "bpe": _bpe, "decode": _decode, "train": _train, "train-valid": _valid,
            "export": _export, "synth-noise": _synth_noise}


@pytest.fixture
def ctx(exp, feats, train_yaml):
    return SimpleNamespace(exp=exp, feats=feats, train_yaml=train_yaml)


def earlier_output(command: str, feats, out) -> None:
    """What an earlier successful run left in ``out``, which the failed run must not touch."""
    out.mkdir()
    if command == "features":
        shutil.copytree(feats.parent, out, dirs_exist_ok=True)
    elif command == "bpe":
        (out / "bpe.model").write_bytes(b"an earlier model")
    elif command == "decode":
        (out / "hyps-asr-test-greedy.txt").write_text("tone 1 2 3\n")
    elif command.startswith("train"):
        (out / "notes.txt").write_text("an earlier run\n")
    elif command == "export":
        (out / "model.pt").write_bytes(b"an earlier export")


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_damaged_manifest_is_named_and_nothing_is_touched(command, damage, ctx, feats, tmp_path, capsys):
    bad, names = damaged_manifest(feats, damage, tmp_path / "cuts_bad.jsonl.gz")
    out = tmp_path / "out"
    earlier_output(command, feats, out)
    before = snapshot(out)
    outcome = run_cli(capsys, *COMMANDS[command](ctx, bad, out))
    user_error(outcome, *names)
    unchanged(before, out, allow_new=["train.log"])


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("damage", ["bad-json", "not-utf8", "truncated", "missing"])
def test_damaged_recordings_manifest_for_features(damage, feats, tmp_path, capsys):
    bad, names = damaged_manifest(feats, damage, tmp_path / "recordings_bad.jsonl.gz")
    out = tmp_path / "out"
    earlier_output("features", feats, out)
    before = snapshot(out)
    outcome = run_cli(capsys, "features", "--recordings", bad, "--supervisions", bad, "--out-dir", out, "--split",
                      "test")
    user_error(outcome, names[0])
    unchanged(before, out)


@pytest.mark.hostile("files")
@pytest.mark.parametrize("command", ["decode", "export", "train", "train-valid"])
def test_manifest_away_from_its_arrays_is_named(command, ctx, feats, tmp_path, capsys):
    # a feature manifest copied without its feats_* directory: its relative storage paths point nowhere
    bad = tmp_path / "cuts_moved.jsonl.gz"
    shutil.copyfile(feats, bad)
    out = tmp_path / "out"
    earlier_output(command, feats, out)
    before = snapshot(out)
    outcome = run_cli(capsys, *COMMANDS[command](ctx, bad, out))
    user_error(outcome, bad, hint="hent-srt features")
    unchanged(before, out, allow_new=["train.log"])
