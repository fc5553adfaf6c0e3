"""Hostile inputs to ``hent-srt average``: missing, damaged or unlike epoch checkpoints, impossible epoch ranges,
``--out`` paths that are directories or cannot be made; a failed average leaves an earlier output as it was."""

from __future__ import annotations

import shutil

import pytest
import torch
from hostile_kit import fail, mode_is, no_temporaries, run_cli, snapshot, succeeded, truncated, unchanged, user_error


@pytest.fixture
def exp_copy(exp, tmp_path):
    """A copy of the micro experiment's epoch-1.pt and epoch-2.pt, with an earlier averaged.pt."""
    root = tmp_path / "exp"
    root.mkdir()
    for name in ("epoch-1.pt", "epoch-2.pt"):
        shutil.copy(exp.dir / name, root / name)
    (root / "averaged.pt").write_bytes(b"an earlier average")
    return root


def average(capsys, exp_dir, *extra, out=None):
    return run_cli(capsys, "average", "--exp-dir", exp_dir, "--out", out or exp_dir / "averaged.pt", *extra)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize(("extra", "names"), [
    (["--epoch", "3", "--avg", "2"], ["epoch-3.pt"]),
    (["--epoch", "2", "--avg", "3"], ["--avg 3", "--avg 2"]),
    (["--epoch", "2", "--avg", "2", "--use-averaged-model"], ["--avg", "epoch-0.pt"]),
    (["--epoch", "0", "--avg", "1"], ["--epoch"]),
    (["--epoch", "2", "--avg", "x"], ["--avg"]),
    (["--epoch", "2", "--avg", "1", "--use-averaged-model", "perhaps"], ["--use-averaged-model"]),
])
def test_impossible_range_is_named(exp_copy, capsys, extra, names):
    before = snapshot(exp_copy)
    user_error(average(capsys, exp_copy, *extra), *names)
    unchanged(before, exp_copy)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("damage", ["truncated", "text", "tensor", "no-model", "other-shapes", "no-model-avg"])
def test_damaged_or_unlike_checkpoint_is_named(exp_copy, capsys, damage):
    victim = exp_copy / "epoch-1.pt"
    if damage == "truncated":
        truncated(exp_copy / "epoch-2.pt", victim)
    elif damage == "text":
        victim.write_text("not a checkpoint\n")
    elif damage == "tensor":
        torch.save(torch.zeros(3), victim)
    elif damage == "no-model":
        torch.save({"optimizer": {}}, victim)
    elif damage == "other-shapes":
        torch.save({"model": {"w": torch.zeros(2)}, "model_avg": {"w": torch.zeros(2)}, "batch_idx_train": 1}, victim)
    elif damage == "no-model-avg":
        torch.save({"model": torch.load(exp_copy / "epoch-2.pt", weights_only=True)["model"],
                    "batch_idx_train": 100}, victim)
    before = snapshot(exp_copy)
    extra = ["--use-averaged-model"] if damage == "no-model-avg" else []
    avg = "1" if extra else "2"
    user_error(average(capsys, exp_copy, "--epoch", "2", "--avg", avg, *extra), str(victim))
    unchanged(before, exp_copy)


@pytest.mark.hostile("message")
def test_missing_experiment_directory(tmp_path, capsys):
    user_error(average(capsys, tmp_path / "nowhere", "--epoch", "2", "--avg", "1", out=tmp_path / "a.pt"),
               str(tmp_path / "nowhere"))


@pytest.mark.hostile("traceback")
def test_out_naming_a_directory(exp_copy, capsys):
    before = snapshot(exp_copy)
    user_error(average(capsys, exp_copy, "--epoch", "2", "--avg", "2", out=exp_copy), "--out", str(exp_copy))
    unchanged(before, exp_copy)


@pytest.mark.hostile("traceback")
def test_out_below_a_file(exp_copy, capsys):
    blocker = exp_copy / "averaged.pt"
    before = snapshot(exp_copy)
    user_error(average(capsys, exp_copy, "--epoch", "2", "--avg", "2", out=blocker / "x.pt"), "--out", str(blocker))
    unchanged(before, exp_copy)


@pytest.mark.hostile("files")
def test_average_is_complete_with_normal_permissions(exp_copy, capsys):
    succeeded(average(capsys, exp_copy, "--epoch", "2", "--avg", "1", "--use-averaged-model"))
    out = exp_copy / "averaged.pt"
    mode_is(out)
    if "model" not in torch.load(out, weights_only=True):
        fail("silent", f"{out} holds no model")
    no_temporaries(exp_copy)
