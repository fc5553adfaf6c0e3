"""The trainer under bad batches and bad data: non-finite values skip a batch (counted in the log and in
TensorBoard), too many skips in a row stop the run with exit status 3, an empty training set is an error."""

from __future__ import annotations

import argparse
import logging
import math

import pytest
import torch
import yaml

import hent_srt.train.trainer as trainer_module
from hent_srt.config import config_from_dict
from hent_srt.train.checkpoint import find_checkpoints, load_checkpoint
from hent_srt.train.trainer import (
    EXIT_DIVERGED,
    EXIT_USER_ERROR,
    Trainer,
    TrainingStopped,
    hent_srt_inputs,
    run_training,
)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_nan_features_skip_the_batch_of_the_real_model(tmp_path, caplog, standins):
    torch.manual_seed(0)
    model = standins.micro_hent_srt()
    trainer = Trainer(config_from_dict({"data": {"max_duration": 2.0}}), model, None, None, tmp_path,
                      model_inputs=hent_srt_inputs)
    bad = standins.hent_batch(1)
    bad.features[1, 30, 7] = math.nan
    before = weights(model)
    trainer.state.batch_idx_train = 1
    with caplog.at_level(logging.WARNING, logger="hent_srt.train.trainer"):
        assert trainer.train_step(bad) is None
    assert trainer.state.num_skipped_nonfinite == 1 and trainer.state.consecutive_skipped == 1
    assert "non-finite" in caplog.text and "contains NaN" in caplog.text and "b1-1" in caplog.text
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    trainer.state.batch_idx_train = 2
    values = trainer.train_step(standins.hent_batch(2))
    assert values is not None and math.isfinite(values["loss"]) and trainer.state.consecutive_skipped == 0
    assert not torch.equal(model.encoder_embed.conv[0].weight, before["encoder_embed.conv.0.weight"])


def test_skips_are_logged_and_in_tensorboard(tmp_path, standins):
    build = standins.TinyBuild(shuffle=False, nan_cut_ids=("utt-3",), error_at=((3, "utt-4"),))
    config = standins.tiny_config(num_epochs=2)
    trainer = run_training(config, tmp_path / "exp", build=build, show_progress=False)
    # batches [0,1] [2,3] [4,5] per epoch: step 2 and 5 have a NaN loss, step 3 raises NonFiniteError
    assert trainer.state.num_skipped_nonfinite == 3 and trainer.state.batch_idx_train == 6
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "exp" / "tensorboard"))
    events.Reload()
    assert [int(e.value) for e in events.Scalars("train/skipped_nonfinite")] == [0, 1, 2, 2, 3, 3]


def test_consecutive_skips_stop_training_and_keep_the_checkpoints(tmp_path, standins):
    # 3 steps per epoch; from step 5 every loss is NaN; the third skip in a row (step 7) stops the run
    build = standins.TinyBuild(nan_from_step=5)
    config = standins.tiny_config(num_epochs=5, save_every_n=1, keep_last_k=2, max_consecutive_skips=3)
    with pytest.raises(TrainingStopped) as err:
        run_training(config, tmp_path / "exp", build=build, show_progress=False)
    assert err.value.exit_status == EXIT_DIVERGED
    message = str(err.value)
    assert "step 7" in message and "max_consecutive_skips=3" in message and "checkpoint-6.pt" in message
    exp = tmp_path / "exp"
    assert [p.name for p in find_checkpoints(exp, "step")] == ["checkpoint-5.pt", "checkpoint-6.pt"]
    assert [p.name for p in find_checkpoints(exp, "epoch")] == ["epoch-1.pt", "epoch-2.pt"]
    good = load_checkpoint(exp / "checkpoint-5.pt")  # written after step 5, the first skipped one
    assert good["train_state"]["num_skipped_nonfinite"] == 1
    model = build.models[-1]
    step4 = load_checkpoint(exp / "epoch-2.pt")  # end of epoch 2 = step 6: the weights of step 4
    for name, value in model.state_dict().items():
        assert torch.equal(value, good["model"][name]) and torch.equal(value, step4["model"][name]), name
        assert torch.isfinite(value).all(), name


def test_consecutive_skip_limit_zero_disables_it(tmp_path, standins):
    build = standins.TinyBuild(nan_from_step=2)
    trainer = run_training(standins.tiny_config(num_epochs=2, max_consecutive_skips=0), tmp_path / "exp",
                           build=build, show_progress=False)
    assert trainer.state.num_skipped_nonfinite == 5 and trainer.state.consecutive_skipped == 5


def test_empty_training_set_is_an_error_and_writes_no_checkpoint(tmp_path, standins):
    with pytest.raises(TrainingStopped) as err:
        run_training(standins.tiny_config(), tmp_path / "exp", build=standins.TinyBuild(n_train=0),
                     show_progress=False)
    assert err.value.exit_status == EXIT_USER_ERROR
    assert "no batch" in str(err.value) and "data.train_cuts" in str(err.value)
    assert not list((tmp_path / "exp").glob("*.pt"))


@pytest.mark.parametrize("build_args, status, phrase", [({"nan_from_step": 1}, 3, "were all skipped"),
                                                         ({"n_train": 0}, 2, "no batch")])
def test_command_exit_status_and_one_message(tmp_path, capsys, monkeypatch, standins, build_args, status, phrase):
    real_prepare = trainer_module.prepare_trainer

    def prepare_with_standins(*args, **kwargs):
        return real_prepare(*args, build=standins.TinyBuild(**build_args), **kwargs)

    monkeypatch.setattr(trainer_module, "prepare_trainer", prepare_with_standins)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"max_duration": 2.0},
                                   "train": {"num_epochs": 2, "max_consecutive_skips": 2, "log_interval": 1}}))
    parser = argparse.ArgumentParser()
    trainer_module.add_arguments(parser)
    args = parser.parse_args(["--config", str(cfg), "--exp-dir", str(tmp_path / "exp"), "--no-progress"])
    assert trainer_module.main(args) == status
    err = capsys.readouterr().err
    stderr_lines = [line for line in err.splitlines() if line.startswith("hent-srt train:")]
    assert len(stderr_lines) == 1 and phrase in stderr_lines[0] and "Traceback" not in err
    assert phrase in (tmp_path / "exp" / "train.log").read_text()


def test_max_consecutive_skips_is_checked(tmp_path, standins):
    with pytest.raises(ValueError, match="train.max_consecutive_skips"):
        Trainer(standins.tiny_config(max_consecutive_skips=-1), standins.TinyModel(), None, None, tmp_path)
