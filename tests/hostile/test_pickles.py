"""A crafted pickle (a checkpoint-looking file whose unpickling creates a directory) given to every command that
reads weights: it is refused with a message naming the file, and its payload never runs."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from hostile_kit import crafted_checkpoint, no_code_ran, run_cli, user_error


def _decode(ctx, crafted):
    return ["decode", "--exp-dir", ctx.exp.dir, "--checkpoint", crafted, "--cuts", ctx.feats, "--out-dir",
            ctx.tmp / "out"]


def _decode_avg(ctx, crafted):
    exp_dir = ctx.tmp / "exp"
    shutil.copytree(ctx.exp.dir, exp_dir)
    shutil.move(crafted, exp_dir / "epoch-1.pt")
    return ["decode", "--exp-dir", exp_dir, "--epoch", "2", "--avg", "2", "--cuts", ctx.feats, "--out-dir",
            ctx.tmp / "out"], exp_dir / "epoch-1.pt"


def _average(ctx, crafted):
    exp_dir = ctx.tmp / "exp"
    exp_dir.mkdir()
    shutil.copy(ctx.exp.dir / "epoch-2.pt", exp_dir)
    shutil.move(crafted, exp_dir / "epoch-1.pt")
    return ["average", "--exp-dir", exp_dir, "--epoch", "2", "--avg", "2", "--out", exp_dir / "avg.pt"], \
        exp_dir / "epoch-1.pt"


def _init_from(ctx, crafted):
    return ["train", "--config", ctx.train_yaml(), "--exp-dir", ctx.tmp / "train", "--init-from", crafted,
            "--no-progress"]


def _resume(ctx, crafted):
    exp_dir = ctx.tmp / "train"
    exp_dir.mkdir()
    shutil.move(crafted, exp_dir / "epoch-1.pt")
    return ["train", "--config", ctx.train_yaml(), "--exp-dir", exp_dir, "--resume", "--no-progress"], \
        exp_dir / "epoch-1.pt"


def _import(ctx, crafted):
    return ["import-icefall", "--checkpoint", crafted, "--out-dir", ctx.tmp / "imported"]


def _export(ctx, crafted):
    return ["export", "--exp-dir", ctx.exp.dir, "--checkpoint", crafted, "--torchscript", "--out-dir",
            ctx.tmp / "export"]


def _translate(ctx, crafted):
    return ["translate", ctx.tones[0], "--exp-dir", ctx.exp.dir, "--checkpoint", crafted]


COMMANDS = {"decode": _decode, "decode-epoch-avg": _decode_avg, "average": _average, "train-init-from": _init_from,
            "train-resume": _resume, "import-icefall": _import, "export": _export, "translate": _translate}


@pytest.mark.hostile("code-exec")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_crafted_pickle_is_refused_and_never_runs(command, exp, feats, tones, train_yaml, tmp_path, capsys):
    ctx = SimpleNamespace(exp=exp, feats=feats, tones=tones, train_yaml=train_yaml, tmp=tmp_path)
    marker = tmp_path / "created-by-the-pickle"
    crafted = crafted_checkpoint(tmp_path / "epoch-9.pt", marker)
    argv = COMMANDS[command](ctx, crafted)
    argv, named = argv if isinstance(argv, tuple) else (argv, crafted)
    outcome = run_cli(capsys, *argv)
    no_code_ran(marker)
    user_error(outcome, str(named), hint="refused")
