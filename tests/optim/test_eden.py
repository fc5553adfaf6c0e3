"""Eden: closed-form values, counters, state_dict round trip and argument validation."""

import math

import pytest
import torch

from hent_srt.optim import Eden


def _closed_form(base, b, e, lr_batches, lr_epochs, warmup_batches, warmup_start):
    decay = math.pow(1 + (b / lr_batches) ** 2, -0.25) * math.pow(1 + (e / lr_epochs) ** 2, -0.25)
    warm = 1.0 if b >= warmup_batches else warmup_start + (1 - warmup_start) * b / warmup_batches
    return base * decay * warm


def _optimizer():
    p1 = torch.nn.Parameter(torch.zeros(3))
    p2 = torch.nn.Parameter(torch.zeros(2, 2))
    return torch.optim.SGD([{"params": [p1], "lr": 0.045}, {"params": [p2], "lr": 0.01}], lr=0.1)


@pytest.mark.parametrize(
    "batch, epoch",
    [(0, 0), (1, 0), (250, 0), (499, 0), (500, 0), (501, 1), (7500, 3), (20000, 3.5), (123456, 30)],
)
def test_values_match_closed_form(batch, epoch):
    opt = _optimizer()
    sched = Eden(opt, lr_batches=7500, lr_epochs=3.5)
    sched.step_epoch(epoch)
    sched.step_batch(batch)
    expected = [_closed_form(base, batch, epoch, 7500, 3.5, 500, 0.5) for base in (0.045, 0.01)]
    assert sched.get_last_lr() == pytest.approx(expected, rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(expected, rel=1e-12)


def test_known_landmarks():
    opt = _optimizer()
    sched = Eden(opt, lr_batches=100, lr_epochs=2, warmup_batches=10, warmup_start=0.2)
    assert sched.get_last_lr()[0] == pytest.approx(0.045 * 0.2)  # set at construction: batch 0
    sched.step_batch(5)
    assert sched.get_last_lr()[0] == pytest.approx(0.045 * 0.6 * (1 + 0.05**2) ** -0.25)
    sched.step_batch(100)
    sched.step_epoch(2)
    assert sched.get_last_lr()[0] == pytest.approx(0.045 / math.sqrt(2))  # 2^-1/4 * 2^-1/4 at b=B, e=E


def test_counters_increment_without_arguments():
    opt = _optimizer()
    sched = Eden(opt, lr_batches=50, lr_epochs=4, warmup_batches=20, warmup_start=0.5)
    for _ in range(30):
        sched.step_batch()
    sched.step_epoch()
    sched.step_epoch()
    assert (sched.batch, sched.epoch) == (30, 2)
    assert sched.get_last_lr()[1] == pytest.approx(_closed_form(0.01, 30, 2, 50, 4, 20, 0.5))


def test_no_warmup_when_warmup_batches_is_zero():
    opt = _optimizer()
    sched = Eden(opt, lr_batches=50, lr_epochs=4, warmup_batches=0)
    assert sched.get_last_lr() == pytest.approx([0.045, 0.01])


def test_state_dict_round_trip():
    opt = _optimizer()
    sched = Eden(opt, lr_batches=30, lr_epochs=2, warmup_batches=10)
    sched.step_epoch(1)
    for _ in range(17):
        sched.step_batch()
    state = sched.state_dict()

    fresh_opt = _optimizer()
    fresh = Eden(fresh_opt, lr_batches=30, lr_epochs=2, warmup_batches=10)
    assert fresh.get_last_lr() != sched.get_last_lr()
    fresh.load_state_dict(state)
    assert fresh.get_last_lr() == sched.get_last_lr()
    assert [g["lr"] for g in fresh_opt.param_groups] == [g["lr"] for g in opt.param_groups]
    sched.step_batch()
    fresh.step_batch()
    assert fresh.get_last_lr() == sched.get_last_lr()


def test_base_lr_is_recorded_in_param_groups():
    opt = _optimizer()
    Eden(opt, lr_batches=30, lr_epochs=2)
    assert [g["base_lr"] for g in opt.param_groups] == [0.045, 0.01]
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.0225, 0.005])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lr_batches": 0}, "lr_batches"),
        ({"lr_epochs": -1.0}, "lr_epochs"),
        ({"lr_epochs": float("nan")}, "lr_epochs"),
        ({"warmup_batches": -5}, "warmup_batches"),
        ({"warmup_start": 1.5}, "warmup_start"),
        ({"warmup_start": -0.1}, "warmup_start"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(kwargs, name):
    args = {"lr_batches": 100, "lr_epochs": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        Eden(_optimizer(), **args)


def test_invalid_calls_raise_value_error():
    with pytest.raises(ValueError, match="optimizer"):
        Eden(object(), lr_batches=10, lr_epochs=1)
    sched = Eden(_optimizer(), lr_batches=10, lr_epochs=1)
    with pytest.raises(ValueError, match="batch"):
        sched.step_batch(-1)
    with pytest.raises(ValueError, match="epoch"):
        sched.step_epoch(-2)
    with pytest.raises(ValueError, match="base_lrs"):
        sched.load_state_dict({"base_lrs": [0.1], "epoch": 0, "batch": 0})
    with pytest.raises(ValueError, match="missing"):
        sched.load_state_dict({"epoch": 0})
