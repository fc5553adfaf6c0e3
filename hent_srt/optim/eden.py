"""Eden learning-rate schedule (icefall), driven by both a batch and an epoch counter.

    lr(b, e) = base_lr * ((b^2 + B^2) / B^2)^(-1/4) * ((e^2 + E^2) / E^2)^(-1/4) * w(b)
    w(b)     = warmup_start + (1 - warmup_start) * b / warmup_batches   if b < warmup_batches, else 1

with ``B = lr_batches`` and ``E = lr_epochs``.  ``base_lr`` is each param group's learning rate at
construction (stored in the group as ``"base_lr"``).  The trainer calls ``step_epoch(epoch)`` at the
start of every epoch and ``step_batch(batch_idx_train)`` after every optimizer step.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from torch.optim import Optimizer

logger = logging.getLogger(__name__)


def _check_number(name: str, value: Any, *, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise ValueError(f"{name}={value!r}: must be a finite number {'> 0' if positive else '>= 0'}")


class Eden:
    """Eden schedule: sets ``lr`` of every param group of ``optimizer`` from the batch and epoch.

    Args:
        optimizer: the optimizer whose groups' ``lr`` this schedule sets.
        lr_batches: batches after which the rate starts to decay noticeably (icefall suggests 5000).
        lr_epochs: epochs after which the rate starts to decay noticeably (e.g. 3.5 to 6).
        warmup_batches: length of the linear warm-up, in batches (0: no warm-up).
        warmup_start: warm-up factor at batch 0, in [0, 1].
        verbose: log every learning-rate change.

    The learning rates are set at construction (batch 0, epoch 0), so the first step already uses
    the warmed-up value.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_batches: float,
        lr_epochs: float,
        warmup_batches: float = 500.0,
        warmup_start: float = 0.5,
        verbose: bool = False,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(  # noqa: TRY004 (project rule: bad user input is a ValueError)
                f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        _check_number("lr_batches", lr_batches, positive=True)
        _check_number("lr_epochs", lr_epochs, positive=True)
        _check_number("warmup_batches", warmup_batches, positive=False)
        _check_number("warmup_start", warmup_start, positive=False)
        if warmup_start > 1.0:
            raise ValueError(f"warmup_start={warmup_start!r}: must be in [0, 1], e.g. 0.5")
        self.optimizer = optimizer
        self.lr_batches = lr_batches
        self.lr_epochs = lr_epochs
        self.warmup_batches = warmup_batches
        self.warmup_start = warmup_start
        self.verbose = verbose
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.base_lrs = [group["base_lr"] for group in optimizer.param_groups]
        self.batch: float = 0
        self.epoch: float = 0
        self._last_lr: list[float] = []
        self._set_lrs()

    def factor(self) -> float:
        """The multiplier on ``base_lr`` at the current (batch, epoch), warm-up included."""
        b, e = self.batch, self.epoch
        decay = ((b**2 + self.lr_batches**2) / self.lr_batches**2) ** -0.25
        decay *= ((e**2 + self.lr_epochs**2) / self.lr_epochs**2) ** -0.25
        if b >= self.warmup_batches:
            return decay
        return decay * (self.warmup_start + (1.0 - self.warmup_start) * b / self.warmup_batches)

    def get_lr(self) -> list[float]:
        """Learning rate of each param group at the current (batch, epoch)."""
        f = self.factor()
        return [base * f for base in self.base_lrs]

    def get_last_lr(self) -> list[float]:
        """Learning rates last written into the optimizer's param groups."""
        return list(self._last_lr)

    def step_batch(self, batch: float | None = None) -> None:
        """Set the batch counter to ``batch`` (batches since the start of training), or add one."""
        if batch is not None:
            _check_number("batch", batch, positive=False)
            self.batch = batch
        else:
            self.batch = self.batch + 1
        self._set_lrs()

    def step_epoch(self, epoch: float | None = None) -> None:
        """Set the epoch counter to ``epoch`` (call at the start of an epoch), or add one (at its end)."""
        if epoch is not None:
            _check_number("epoch", epoch, positive=False)
            self.epoch = epoch
        else:
            self.epoch = self.epoch + 1
        self._set_lrs()

    def state_dict(self) -> dict[str, Any]:
        """Counters and base learning rates (the constructor arguments are not included)."""
        return {"base_lrs": list(self.base_lrs), "epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore counters and base learning rates, and set the optimizer's learning rates."""
        missing = {"base_lrs", "epoch", "batch"} - set(state_dict)
        if missing:
            raise ValueError(f"state_dict: missing keys {sorted(missing)}; pass Eden.state_dict() output")
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"state_dict: base_lrs has {len(state_dict['base_lrs'])} entries but the optimizer has "
                f"{len(self.optimizer.param_groups)} param groups; build the optimizer as when saving"
            )
        self.base_lrs = list(state_dict["base_lrs"])
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["base_lr"] = base
        self.epoch = state_dict["epoch"]
        self.batch = state_dict["batch"]
        self._set_lrs()

    def _set_lrs(self) -> None:
        for i, (group, lr) in enumerate(zip(self.optimizer.param_groups, self.get_lr())):
            group["lr"] = lr
            if self.verbose:
                logger.info(
                    "epoch=%s batch=%s: learning rate of group %d set to %.4e", self.epoch, self.batch, i, lr
                )
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
