"""The trainer on CPU with a tiny stand-in model: exact resume, skipped batches, checkpoints, files written."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys

import numpy as np
import pytest
import torch
import yaml

from hent_srt.config import load_config
from hent_srt.train.checkpoint import CheckpointError, load_checkpoint
from hent_srt.train.trainer import (
    AmpSettings,
    Trainer,
    add_arguments,
    latest_checkpoint,
    main,
    resolve_amp,
    run_training,
)

standins = sys.modules["trainer_standins"]  # imported by conftest.py
TinyBuild, TinyModel, collate = standins.TinyBuild, standins.TinyModel, standins.collate
make_utterances, tiny_config = standins.make_utterances, standins.tiny_config


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k, value in a.items():
        assert torch.equal(value, b[k]), k


def train(tmp_path, name, build=None, resume=False, init_from=None, **train_cfg):
    return run_training(tiny_config(**train_cfg), tmp_path / name, build=build or TinyBuild(), resume=resume,
                        init_from=init_from, show_progress=False, command_line=["test", name])


def test_resume_continues_bit_exactly(tmp_path):
    # 6 utterances in batches of 2: 3 steps per epoch, so the resume at step 2 is mid-epoch and step 3 ends it.
    straight = train(tmp_path, "straight", max_steps=4)
    first = train(tmp_path, "resumed", max_steps=2)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("*.pt")) == ["checkpoint-2.pt"]
    resumed = train(tmp_path, "resumed", resume=True, max_steps=4)

    assert resumed.state == straight.state and resumed.state.batch_idx_train == 4 and resumed.state.epoch == 2
    assert_same(params(resumed.raw_model), params(straight.raw_model))
    assert_same(params(resumed.model_avg), params(straight.model_avg))
    # env.json describes the resumed run and keeps the first one's record
    env = json.loads((tmp_path / "resumed" / "env.json").read_text())
    assert env["resumed_from"].endswith("checkpoint-2.pt") and len(env["earlier_runs"]) == 1
    assert env["earlier_runs"][0]["resumed_from"] is None and "earlier_runs" not in env["earlier_runs"][0]
    assert env["earlier_runs"][0]["cpu"] == env["cpu"]
    # the resumed run really continued (did not start over) and training moved the weights
    assert resumed.raw_model.seen_batch_counts == straight.raw_model.seen_batch_counts[2:]
    assert not torch.equal(first.raw_model.out.weight, resumed.raw_model.out.weight)
    # model schedules see batch_idx_train * max_duration * world_size / ref_duration (icefall)
    assert straight.raw_model.seen_batch_counts == [k * 2.0 / 600.0 for k in range(1, 5)]
    # sensitivity: the same 4 steps without the optimizer/RNG/loader state (weights only) end elsewhere
    weights_only = train(tmp_path, "weights-only", init_from=tmp_path / "resumed" / "checkpoint-2.pt",
                         max_steps=2)
    assert not torch.equal(weights_only.raw_model.out.weight, straight.raw_model.out.weight)


def test_resume_from_a_checkpoint_written_before_plain_states(tmp_path):
    # the previous trainer stored numpy's random state as numpy's own tuple (with an ndarray)
    straight = train(tmp_path, "straight", max_steps=4)
    train(tmp_path, "resumed", max_steps=2)
    path = tmp_path / "resumed" / "checkpoint-2.pt"
    ckpt = load_checkpoint(path)
    for rank_state in ckpt["rank_states"]:
        numpy_state = rank_state["rng"]["numpy"]
        rank_state["rng"]["numpy"] = (numpy_state["bit_generator"], numpy_state["key"].numpy().astype(np.uint32),
                                      numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    torch.save(ckpt, path)
    resumed = train(tmp_path, "resumed", resume=True, max_steps=4)
    assert resumed.state == straight.state
    assert_same(params(resumed.raw_model), params(straight.raw_model))


def test_crafted_checkpoints_are_refused_by_resume_and_init_from(tmp_path, write_crafted):
    target = tmp_path / "created-by-the-pickle"
    crafted = tmp_path / "crafted.pt"
    write_crafted(crafted, target)
    with pytest.raises(CheckpointError, match=f"{crafted}.*refused"):
        train(tmp_path, "stage2", init_from=crafted, max_steps=1)
    (tmp_path / "exp").mkdir()
    write_crafted(tmp_path / "exp" / "epoch-1.pt", target)
    with pytest.raises(CheckpointError, match="epoch-1.pt.*refused"):
        train(tmp_path, "exp", resume=True, max_steps=1)
    assert not target.exists()


def test_nonfinite_loss_batch_is_skipped_without_a_step(tmp_path):
    trainer = Trainer(tiny_config(), TinyModel(nan_cut_ids=("utt-1",)), None, None, tmp_path)
    utts = make_utterances(4)
    before = params(trainer.raw_model)
    assert trainer.train_step(collate(utts[0:2])) is None
    assert trainer.state.num_skipped_nonfinite == 1
    assert_same(params(trainer.raw_model), before)
    assert len(trainer.optimizer.state) == 0
    assert all(p.grad is None for p in trainer.raw_model.parameters())
    values = trainer.train_step(collate(utts[2:4]))
    assert values is not None and math.isfinite(values["loss"]) and values["frames"] > 0
    assert not torch.equal(trainer.raw_model.out.weight, before["out.weight"])


def test_nonfinite_batches_counted_in_a_run(tmp_path):
    trainer = train(tmp_path, "exp", build=TinyBuild(shuffle=False, nan_cut_ids=("utt-3",)), num_epochs=2)
    assert trainer.state.batch_idx_train == 6 and trainer.state.num_skipped_nonfinite == 2
    assert all(math.isfinite(float(v.sum())) for v in trainer.raw_model.state_dict().values())


def test_out_of_memory_batch_is_reported_and_skipped(tmp_path, caplog):
    trainer = Trainer(tiny_config(), TinyModel(oom_cut_ids=("utt-2",)), None, None, tmp_path)
    utts = make_utterances(4)
    batch = collate(utts[2:4])
    before = params(trainer.raw_model)
    with caplog.at_level(logging.ERROR, logger="hent_srt.train.trainer"):
        assert trainer.train_step(batch) is None
    seconds = float(batch.feature_lens.sum()) * 0.01
    message = caplog.text
    assert "out of memory" in message and "utt-2" in message and "utt-3" in message
    assert f"{seconds:.1f} s of audio" in message
    assert trainer.state.num_skipped_oom == 1 and trainer.state.num_skipped_nonfinite == 0
    assert_same(params(trainer.raw_model), before)


def test_checkpoint_files_pruning_and_contents(tmp_path):
    trainer = train(tmp_path, "exp", num_epochs=2, save_every_n=1, keep_last_k=2)
    exp = tmp_path / "exp"
    names = sorted(p.name for p in exp.glob("*.pt"))
    assert names == ["best-valid-loss.pt", "checkpoint-5.pt", "checkpoint-6.pt", "epoch-1.pt", "epoch-2.pt"]
    assert not [p for p in exp.iterdir() if p.name.startswith(".")]  # no temporary files left
    epoch2 = load_checkpoint(exp / "epoch-2.pt")
    assert epoch2["batch_idx_train"] == 6 and epoch2["train_state"]["epoch"] == 3
    assert epoch2["train_state"]["batches_in_epoch"] == 0
    assert all(v.dtype == torch.float64 for v in epoch2["model_avg"].values())
    assert_same(epoch2["model"], params(trainer.raw_model))
    # best-valid-loss.pt is a copy of the epoch checkpoint whose validation loss was lowest
    snapshots = [load_checkpoint(exp / f"epoch-{e}.pt")["model"] for e in (1, 2)]
    assert not torch.equal(snapshots[0]["out.weight"], snapshots[1]["out.weight"])
    best = load_checkpoint(exp / "best-valid-loss.pt")
    best_epoch = 1 if best["batch_idx_train"] == 3 else 2
    assert_same(best["model"], snapshots[best_epoch - 1])
    assert best["train_state"]["best_valid_loss"] == trainer.state.best_valid_loss
    path, ckpt = latest_checkpoint(exp)
    assert ckpt["batch_idx_train"] == 6 and path.name in ("epoch-2.pt", "checkpoint-6.pt")


def valid_loss_of(weights: dict[str, torch.Tensor]) -> float:
    """Validation loss per frame of the stand-in with ``weights`` on TinyBuild's validation utterances."""
    model = TinyModel()
    model.load_state_dict(weights)
    model.eval()
    with torch.no_grad():
        out = model(collate(make_utterances(2, seed=1)))
    return float(out["loss"]) / float(out["frames"])


def test_best_valid_loss_is_the_epoch_checkpoint_with_the_lowest_validation_loss(tmp_path):
    # validation after every step: the epoch ends (steps 3, 6, 9) and the steps between them
    trainer = train(tmp_path, "exp", num_epochs=3, valid_interval=1)
    exp = tmp_path / "exp"
    epochs = {e: load_checkpoint(exp / f"epoch-{e}.pt") for e in (1, 2, 3)}
    losses = {e: valid_loss_of(ckpt["model"]) for e, ckpt in epochs.items()}
    best_epoch = min(losses, key=losses.get)
    best = load_checkpoint(exp / "best-valid-loss.pt")
    assert_same(best["model"], epochs[best_epoch]["model"])
    assert trainer.state.best_valid_loss == pytest.approx(losses[best_epoch], rel=1e-6)
    assert trainer.state.best_valid_step == 3 * best_epoch


def test_running_average_is_mean_of_step_weights(tmp_path):
    trainer = train(tmp_path, "exp", num_epochs=1, save_every_n=1, keep_last_k=10, average_period=1)
    steps = [load_checkpoint(tmp_path / "exp" / f"checkpoint-{k}.pt")["model"] for k in (1, 2, 3)]
    for name, avg in trainer.model_avg.state_dict().items():
        mean = sum(s[name].to(torch.float64) for s in steps) / 3
        torch.testing.assert_close(avg, mean, rtol=1e-12, atol=1e-12)


def test_config_env_and_tensorboard_written(tmp_path):
    config = tiny_config(max_steps=3, valid_interval=2)
    run_training(config, tmp_path / "exp", build=TinyBuild(), show_progress=False, command_line=["hent-srt", "x"])
    exp = tmp_path / "exp"
    assert load_config(exp / "config.yaml") == config
    env = json.loads((exp / "env.json").read_text())
    assert env["seed"] == 7 and env["command_line"] == ["hent-srt", "x"] and env["world_size"] == 1
    assert env["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert set(env["git"]) == {"commit", "dirty"}
    assert env["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["cpu"]["logical_cores"] == os.cpu_count()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(exp / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("train/loss", "train/mse", "train/lr", "train/grad_norm", "train/grad_scale",
                "train/frames_per_s", "valid/loss", "valid/mse"):
        assert tag in tags, tag
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    assert [e.step for e in events.Scalars("valid/loss")] == [2]


def test_existing_experiment_needs_resume(tmp_path):
    train(tmp_path, "exp", max_steps=1)
    with pytest.raises(ValueError, match="--resume"):
        train(tmp_path, "exp", max_steps=2)


def test_init_from_uses_the_model_hook(tmp_path):
    source = train(tmp_path, "stage1", max_steps=1)
    calls = []

    class Hooked(TinyModel):
        def init_from(self, state_dict):
            calls.append(sorted(state_dict))
            self.load_state_dict(state_dict)

    trainer = Trainer(tiny_config(), Hooked(), None, None, tmp_path / "stage2")
    trainer.init_from(tmp_path / "stage1" / "checkpoint-1.pt")
    assert calls == [sorted(source.raw_model.state_dict())]
    assert_same(params(trainer.raw_model), params(source.raw_model))
    assert_same({k: v.float() for k, v in trainer.model_avg.state_dict().items()}, params(source.raw_model))
    plain = Trainer(tiny_config(), TinyModel(), None, None, tmp_path / "stage2b")
    plain.init_from(tmp_path / "stage1" / "checkpoint-1.pt")
    assert_same(params(plain.raw_model), params(source.raw_model))


def test_amp_resolution_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) == AmpSettings(None, False)
    assert resolve_amp("fp16", cpu) == AmpSettings(None, False)
    with pytest.raises(ValueError, match="train.amp"):
        resolve_amp("fp8", cpu)


def test_command_reports_user_errors_in_one_line(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"num_epochs": 1}}))
    args = parser.parse_args(["--config", str(cfg), "--exp-dir", str(tmp_path / "exp"),
                              "--set", "data.train_cuts=/nonexistent/cuts.jsonl.gz", "--no-progress"])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.train_cuts" in err[0] and "/nonexistent/cuts.jsonl.gz" in err[0]
    bad = parser.parse_args(["--config", str(cfg), "--exp-dir", str(tmp_path / "exp"), "--set", "train.amp=fp8"])
    assert main(bad) == 2
    assert "train.amp" in capsys.readouterr().err


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_num_threads_is_set_and_recorded(tmp_path, restore_threads):
    torch.set_num_threads(2)
    train(tmp_path, "one", max_steps=1, num_threads=1)
    assert torch.get_num_threads() == 1
    assert json.loads((tmp_path / "one" / "env.json").read_text())["torch_num_threads"] == 1
    train(tmp_path, "default", max_steps=1)  # 0 leaves the count as it is
    assert torch.get_num_threads() == 1


def test_negative_num_threads_refused(tmp_path, restore_threads):
    with pytest.raises(ValueError, match="train.num_threads=-1"):
        train(tmp_path, "exp", max_steps=1, num_threads=-1)
    assert not (tmp_path / "exp" / "env.json").exists()
