"""scripts/gpu_check.sh without a GPU: it refuses with exit status 2, and its CPU-checkable parts work (the loss
comparison, float32 against float64, catches a wrong loss; a training row and the decoding rows on a micro
preset). The whole CPU run is ``scripts/gpu_check.sh --dry-run`` (minutes: not a test)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import hent_srt.loss as loss_module

REPO = Path(__file__).resolve().parents[2]


def gpu_check() -> ModuleType:
    name = "hent_srt_scripts_gpu_check"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "gpu_check.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_refuses_without_cuda():
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(REPO / "scripts/gpu_check.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no CUDA device" in proc.stderr and "--dry-run" in proc.stderr and "Traceback" not in proc.stderr


def test_loss_rows_pass_and_catch_a_wrong_loss(monkeypatch):
    rows = gpu_check().loss_checks(torch.device("cpu"), seed=0)
    assert [r.check for r in rows] == ["loss smoothed", "loss pruned", "loss full", "loss ctc", "loss cr_ctc",
                                       "loss prune ranges"]
    assert all(r.ok for r in rows), [r.figures for r in rows if not r.ok]
    real_ctc = loss_module.ctc_loss

    def off_in_float32(log_probs, *args, **kwargs):  # 1e-4 relative too large, only on the checked path
        loss, dropped = real_ctc(log_probs, *args, **kwargs)
        return (loss * (1 + 1e-4) if log_probs.dtype == torch.float32 else loss), dropped

    monkeypatch.setattr(loss_module, "ctc_loss", off_in_float32)
    rows = {r.check: r for r in gpu_check().loss_checks(torch.device("cpu"), seed=0)}
    assert not rows["loss ctc"].ok and rows["loss full"].ok


MICRO_PRESET = """
base: tiny
model:
  subsampling_channels: [4, 8, 16]
  asr_encoder: {num_encoder_layers: [1, 1], downsampling_factor: [1, 2], encoder_dim: [32, 32],
                encoder_unmasked_dim: [32, 32], num_heads: [2, 2], feedforward_dim: [48, 48],
                cnn_module_kernel: [7, 7], query_head_dim: 8, value_head_dim: 4, pos_dim: 8}
  st_encoder: {num_encoder_layers: [1], downsampling_factor: [1], encoder_dim: [32], encoder_unmasked_dim: [32],
               num_heads: [2], feedforward_dim: [48], cnn_module_kernel: [7], query_head_dim: 8, value_head_dim: 4,
               pos_dim: 8}
  decoder_dim: 16
  joiner_dim: 16
  asr_vocab_size: 20
  st_vocab_size: 20
loss: {use_cr_ctc: false}
"""


def test_training_and_decoding_rows_on_a_micro_preset(tmp_path):
    module = gpu_check()
    preset = tmp_path / "micro.yaml"
    preset.write_text(MICRO_PRESET)
    args = argparse.Namespace(preset=str(preset), steps=1, batch_seconds=4.0, seed=0, decode_utts=2,
                              decode_seconds=3.0, beam=2)
    device = torch.device("cpu")
    config = module.build_config(args.preset, "bf16", args.batch_seconds)
    batches = module.training_batches(config, args.batch_seconds, args.seed, count=1)
    assert all(module.audio_seconds(b) <= args.batch_seconds for b in batches)
    no_autocast = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
    flops = module.count_flops(module.build_model(config, 0), batches, device, no_autocast)
    assert all(f > 0 for f in flops)
    row = module.train_check(args, device, "fp16", batches, flops, peak=1e12)
    assert row.ok and row.values["skipped"] == 0 and 0 < row.values["mfu"] < 1
    rows = module.decode_rows(args, device)
    assert [r.check for r in rows] == ["decode greedy asr", "decode greedy st", "decode beam 2 asr",
                                       "decode beam 2 st"]
    assert all(r.ok and r.values["rtf"] > 0 for r in rows)
