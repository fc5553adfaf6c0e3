"""The model's two clocks under the trainer: the loss warm-up counts raw steps, the Zipformer schedules the
adjusted batch count (batch_idx_train * max_duration * world_size / ref_duration), as icefall does."""

from __future__ import annotations

import pytest
import torch

import hent_srt.train.trainer as trainer_module
from hent_srt.config import EncoderConfig, LossConfig, ModelConfig, config_from_dict
from hent_srt.data.loader import Batch
from hent_srt.model.hent import build_model
from hent_srt.train.distributed import DistInfo
from hent_srt.train.trainer import Trainer

WARM_STEP = 6


def micro_model() -> torch.nn.Module:
    enc = EncoderConfig(
        num_encoder_layers=(1, 1), downsampling_factor=(1, 2), encoder_dim=(32, 32), encoder_unmasked_dim=(32, 32),
        num_heads=(2, 2), feedforward_dim=(48, 48), cnn_module_kernel=(7, 7), query_head_dim=8, value_head_dim=4,
        pos_head_dim=4, pos_dim=8, output_downsampling_factor=2,
    )
    cfg = ModelConfig(tasks=("asr",), subsampling_channels=(4, 8, 16), asr_encoder=enc, decoder_dim=16,
                      joiner_dim=16, asr_vocab_size=10, use_ctc=False)
    return build_model(cfg, LossConfig(prune_range_asr=3, warm_step=WARM_STEP, use_cr_ctc=False))


def batch(seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    tokens = [[1, 2, 3], [4, 5]]
    return Batch(torch.randn(2, 120, 80, generator=g), torch.tensor([120, 100]), tokens, [[], []], ["", ""],
                 ["", ""], ["a", "b"])


def warm_up(n: float) -> tuple[float, float]:
    """icefall's scales: simple 1 - (1 - 0.5) * min(n / warm_step, 1), pruned 0.1 + 0.9 * min(n / warm_step, 1)."""
    progress = min(n / WARM_STEP, 1.0)
    return 1.0 - 0.5 * progress, 0.1 + 0.9 * progress


def test_warm_up_counts_raw_steps_on_four_ranks(tmp_path, monkeypatch):
    # rank 0 of 4 with 50 s batches and a 600 s reference: the adjusted count is n * 50 * 4 / 600 = n / 3.
    monkeypatch.setattr(trainer_module, "DistributedDataParallel", lambda module, **kwargs: module)
    torch.manual_seed(0)
    model = micro_model()
    config = config_from_dict({"data": {"max_duration": 50.0}, "train": {"ref_duration": 600.0}})
    trainer = Trainer(config, model, None, None, tmp_path, dist_info=DistInfo(rank=0, world_size=4))
    scheduled = next(m for m in model.encoder.modules() if hasattr(m, "batch_count"))
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append((module.loss_scales(), scheduled.batch_count)))
    for n in range(1, 9):
        trainer.state.batch_idx_train = n
        values = trainer.train_step(batch(n))
        simple, pruned = seen[-1][0]
        assert seen[-1][0] == pytest.approx(warm_up(n))
        assert seen[-1][1] == pytest.approx(n * 50.0 * 4 / 600.0)
        # the loss the optimizer stepped on is built with these scales
        assert values["loss"] == pytest.approx(simple * values["asr_simple"] + pruned * values["asr_pruned"], rel=1e-5)
    # sensitivity: on the adjusted count the warm-up would differ at every step before it ends
    assert all(scales != pytest.approx(warm_up(n / 3)) for n, (scales, _) in zip(range(1, 7), seen))
