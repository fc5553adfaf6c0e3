"""The model's two clocks under the trainer: the loss warm-up counts raw steps, the Zipformer schedules the
adjusted batch count (batch_idx_train * max_duration * world_size / ref_duration), as icefall does."""

from __future__ import annotations

import pytest
import torch

import hent_srt.train.trainer as trainer_module
from hent_srt.config import config_from_dict
from hent_srt.train.distributed import DistInfo
from hent_srt.train.trainer import Trainer, hent_srt_inputs

WARM_STEP = 6


def warm_up(n: float) -> tuple[float, float]:
    """icefall's scales: simple 1 - (1 - 0.5) * min(n / warm_step, 1), pruned 0.1 + 0.9 * min(n / warm_step, 1)."""
    progress = min(n / WARM_STEP, 1.0)
    return 1.0 - 0.5 * progress, 0.1 + 0.9 * progress


def test_warm_up_counts_raw_steps_on_four_ranks(tmp_path, monkeypatch, standins):
    # rank 0 of 4 with 50 s batches and a 600 s reference: the adjusted count is n * 50 * 4 / 600 = n / 3.
    monkeypatch.setattr(trainer_module, "DistributedDataParallel", lambda module, **kwargs: module)
    torch.manual_seed(0)
    model = standins.micro_hent_srt(WARM_STEP)
    config = config_from_dict({"data": {"max_duration": 50.0}, "train": {"ref_duration": 600.0}})
    trainer = Trainer(config, model, None, None, tmp_path, dist_info=DistInfo(rank=0, world_size=4),
                      model_inputs=hent_srt_inputs)
    scheduled = next(m for m in model.encoder.modules() if hasattr(m, "batch_count"))
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append((module.loss_scales(), scheduled.batch_count)))
    for n in range(1, 9):
        trainer.state.batch_idx_train = n
        values = trainer.train_step(standins.hent_batch(n))
        simple, pruned = seen[-1][0]
        assert seen[-1][0] == pytest.approx(warm_up(n))
        assert seen[-1][1] == pytest.approx(n * 50.0 * 4 / 600.0)
        # the loss the optimizer stepped on is built with these scales
        assert values["loss"] == pytest.approx(simple * values["asr_simple"] + pruned * values["asr_pruned"], rel=1e-5)
    # sensitivity: on the adjusted count the warm-up would differ at every step before it ends
    assert all(scales != pytest.approx(warm_up(n / 3)) for n, (scales, _) in zip(range(1, 7), seen))
