#!/usr/bin/env python3
"""Benchmark the Zipformer2 encoders: training (forward + backward) and eval-forward throughput in
seconds of audio per second, and peak memory, for a batch of 8 x 10 s.

Models: the published HENT-SRT ASR encoder with its Conv2dSubsampling front end (fbank input), the
published ST encoder (fed 50 Hz, 384-dim input as from the ASR encoder's last stack) and a CPU-sized
tiny preset with a slim front end. CPU always (threads as given, default 2); CUDA when available.
Each (model, device) runs in a fresh process so that CPU peak memory (peak RSS growth over the
process after building the model) is per model. Prints a table and one summary line.

    python scripts/bench_encoder.py [--quick] [--threads 2] [--models asr,st,tiny] [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import torch
from torch import nn

from hent_srt.model.scaling import set_batch_count
from hent_srt.model.subsampling import Conv2dSubsampling
from hent_srt.model.zipformer import Zipformer2

ASR_ENCODER = {
    "input_dim": 192, "output_downsampling_factor": 2, "downsampling_factor": (1, 2, 4, 8, 4),
    "encoder_dim": (192, 256, 384, 512, 384), "num_encoder_layers": 2, "encoder_unmasked_dim": (192, 192, 256, 256, 256),
    "feedforward_dim": (512, 768, 1024, 1024, 1024), "num_heads": (4, 4, 4, 8, 8), "cnn_module_kernel": (31, 31, 15, 15, 15),
    "query_head_dim": 32, "value_head_dim": 12, "pos_head_dim": 4, "pos_dim": 48,
}
ST_ENCODER = {
    "input_dim": 384, "output_downsampling_factor": 1, "downsampling_factor": (1, 2, 4, 4, 4),
    "encoder_dim": (384, 512, 256, 256, 256), "num_encoder_layers": 2, "encoder_unmasked_dim": (256, 256, 256, 256, 192),
    "feedforward_dim": (512, 512, 256, 256, 256), "num_heads": 8, "cnn_module_kernel": (15, 31, 31, 15, 15),
    "query_head_dim": 32, "value_head_dim": 12, "pos_head_dim": 4, "pos_dim": 48,
}
# The tiny preset, equal to recipes/tiny.yaml's ASR encoder: 4 stacks x 1 layer, dims 128, ff 256, heads 4.
TINY_ENCODER = {
    "input_dim": 128, "output_downsampling_factor": 2, "downsampling_factor": (1, 2, 4, 2),
    "encoder_dim": 128, "num_encoder_layers": 1, "encoder_unmasked_dim": 128, "feedforward_dim": 256,
    "num_heads": 4, "cnn_module_kernel": (31, 31, 15, 15), "query_head_dim": 32, "value_head_dim": 12,
    "pos_head_dim": 4, "pos_dim": 48,
}
TINY_FRONT_END = {"layer1_channels": 8, "layer2_channels": 16, "layer3_channels": 32}

BATCH = 8
SECONDS = 10.0
FBANK_FRAMES = 1000  # 10 s at 100 Hz
EMBED_FRAMES = (FBANK_FRAMES - 7) // 2  # ~50 Hz


class FrontEndAndEncoder(nn.Module):
    """fbank (B, T, 80) -> Conv2dSubsampling -> Zipformer2."""

    def __init__(self, front_end: Conv2dSubsampling, encoder: Zipformer2) -> None:
        super().__init__()
        self.encoder_embed = front_end
        self.encoder = encoder

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor):
        x, x_lens = self.encoder_embed(x, x_lens)
        return self.encoder(x, x_lens)


def build(name: str) -> nn.Module:
    if name == "asr":
        return FrontEndAndEncoder(Conv2dSubsampling(80, 192), Zipformer2(**ASR_ENCODER))
    if name == "st":
        return Zipformer2(**ST_ENCODER)
    if name == "tiny":
        return FrontEndAndEncoder(Conv2dSubsampling(80, 128, **TINY_FRONT_END), Zipformer2(**TINY_ENCODER))
    raise ValueError(f"unknown model {name!r}; choose from asr, st, tiny")


def make_input(name: str, device: torch.device):
    if name == "st":
        shape = (BATCH, EMBED_FRAMES, 384)
    else:
        shape = (BATCH, FBANK_FRAMES, 80)
    x = torch.randn(*shape, device=device)
    return x, torch.full((BATCH,), shape[1], dtype=torch.int64, device=device)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, device_name: str, threads: int, repeats: int) -> dict:
    """Run in a child process: time eval forward then training forward+backward."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device(device_name)
    model = build(name).to(device)
    set_batch_count(model, 100_000.0)
    x, x_lens = make_input(name, device)
    params = sum(p.numel() for p in model.parameters())
    result = {"model": name, "device": device_name, "params": params, "shape": tuple(x.shape), "threads": threads}
    base = _rss_mib()

    def run_eval():
        with torch.no_grad():
            model(x, x_lens)

    def run_train():
        out, _ = model(x, x_lens)
        (out.float() ** 2).mean().backward()
        model.zero_grad(set_to_none=True)

    for mode, fn, train in (("eval fwd", run_eval, False), ("train fwd+bwd", run_train, True)):
        model.train(train)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base_cuda = torch.cuda.memory_allocated(device)
        fn()  # warm-up
        _sync(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
        best = min(times)
        if device.type == "cuda":
            peak = (torch.cuda.max_memory_allocated(device) - base_cuda) / 2**20
        else:
            peak = _peak_rss_mib() - base
        result[mode] = {"seconds": best, "audio_per_s": BATCH * SECONDS / best, "peak_mib": peak}
    return result


def _child(args, queue) -> None:
    queue.put(measure(*args))


def run_isolated(name: str, device: str, threads: int, repeats: int) -> dict | None:
    """Measure in a fresh process; None when it failed (its traceback is on stderr)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=((name, device, threads, repeats), queue))
    proc.start()
    proc.join()
    return queue.get() if proc.exitcode == 0 else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one timed repeat instead of three")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--models", default="asr,st,tiny", help="comma-separated subset of asr,st,tiny")
    parser.add_argument("--devices", default=None, help="comma-separated; default cpu plus cuda when present")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - {"asr", "st", "tiny"}
    if unknown:
        print(f"error: unknown --models {sorted(unknown)}; choose from asr, st, tiny", file=sys.stderr)
        return 2
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        print("error: --devices cuda given but no CUDA device is available", file=sys.stderr)
        return 2
    repeats = 1 if args.quick else 3

    labels = {"asr": "ASR enc + front end", "st": "ST encoder", "tiny": "tiny enc + front end"}
    header = (f"{'model':<22}{'params':>12}  {'device':<6}{'threads':>8}  {'dtype':<8}{'input shape':<16}"
              f"{'mode':<15}{'s/batch':>9}{'audio s/s':>11}{'peak MiB':>10}")
    print(header)
    print("-" * len(header))
    summary = []
    for device in devices:
        for name in models:
            r = run_isolated(name, device, args.threads, repeats)
            if r is None:
                print(f"{labels[name]:<22} {device}: failed (see the traceback above)")
                continue
            threads = str(r["threads"]) if device == "cpu" else "-"
            shape = "x".join(str(s) for s in r["shape"])
            for mode in ("eval fwd", "train fwd+bwd"):
                m = r[mode]
                print(f"{labels[name]:<22}{r['params']:>12,}  {device:<6}{threads:>8}  {'float32':<8}{shape:<16}"
                      f"{mode:<15}{m['seconds']:>9.3f}{m['audio_per_s']:>11.1f}{m['peak_mib']:>10.0f}")
            summary.append(f"{name}/{device} train {r['train fwd+bwd']['audio_per_s']:.1f} "
                           f"eval {r['eval fwd']['audio_per_s']:.1f}")
    print(f"summary (audio s/s, batch {BATCH} x {SECONDS:.0f} s, float32): " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
