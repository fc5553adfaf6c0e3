#!/usr/bin/env python3
"""Benchmark: full RNN-T loss vs the pruned pipeline (forward + backward), time and peak memory.

Setup per vocabulary size V (defaults B=8, T=250, S=60, joiner dim 256, prune range 10, float32):
  encoder output enc (B, T, J), predictor output dec (B, S + 1, J), joiner(x) = Linear(J, V)(tanh(x)).
  (a) full:   rnnt_loss(joiner(enc[:, :, None] + dec[:, None]))                         logits (B, T, S + 1, V)
  (b) pruned: rnnt_loss_smoothed(simple_lm_proj(dec), simple_am_proj(enc), lm_only_scale=0.25, return_grad=True)
              -> get_rnnt_prune_ranges -> do_rnnt_pruning(enc, dec) -> joiner -> rnnt_loss_pruned  (B, T, R, V)
Each (config, method) runs in its own subprocess so that peak memory is its own: on CPU the peak resident set
(ru_maxrss) minus the resident set before the first run; on CUDA torch.cuda.max_memory_allocated minus the
memory allocated before it. Time is the median over repeats after one warm-up; "recursion" is the share of the
pruned pipeline's time spent inside mutual_information_recursion (its forward, which also computes the arc
occupancies; its backward is one multiply).

Targets (issue 3): at the largest V the pruned pipeline uses >= 5x less peak memory and is >= 3x faster than the
full loss; on CPU the recursion is <= 25% of the pruned pipeline's time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from hent_srt.loss import (
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
)
from hent_srt.loss import rnnt as rnnt_module


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _RecursionTimer:
    """Wraps rnnt.mutual_information_recursion and accumulates its wall time."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0
        self.inner = rnnt_module.mutual_information_recursion

    def __call__(self, *args, **kwargs):
        _sync(self.device)
        start = time.perf_counter()
        out = self.inner(*args, **kwargs)
        _sync(self.device)
        self.seconds += time.perf_counter() - start
        return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _run_one(cfg: dict) -> dict:
    """Measure one (method, V, device) configuration in this process."""
    torch.manual_seed(0)
    device = torch.device(cfg["device"])
    B, T, S, V, J, R = cfg["B"], cfg["T"], cfg["S"], cfg["V"], cfg["J"], cfg["prune_range"]
    enc = torch.randn(B, T, J, device=device, requires_grad=True)
    dec = torch.randn(B, S + 1, J, device=device, requires_grad=True)
    joiner = torch.nn.Linear(J, V).to(device)
    am_proj = torch.nn.Linear(J, V).to(device)
    lm_proj = torch.nn.Linear(J, V).to(device)
    symbols = torch.randint(1, V, (B, S), device=device)
    boundary = torch.tensor([[0, 0, S, T]] * B, device=device)
    timer = _RecursionTimer(device)
    rnnt_module.mutual_information_recursion = timer

    def full() -> None:
        logits = joiner(torch.tanh(enc[:, :, None] + dec[:, None]))
        rnnt_loss(logits, symbols, 0, boundary, reduction="sum").backward()

    def pruned() -> None:
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(lm_proj(dec), am_proj(enc), symbols, 0, 0.25, 0.0,
                                                        boundary, reduction="sum", return_grad=True)
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, R)
        am_p, lm_p = do_rnnt_pruning(enc, dec, ranges)
        logits = joiner(torch.tanh(am_p + lm_p))
        (simple + rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="sum")).backward()

    step = full if cfg["method"] == "full" else pruned
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _rss_bytes()
    times, shares = [], []
    for i in range(cfg["repeats"] + 1):
        for p in (enc, dec, *joiner.parameters(), *am_proj.parameters(), *lm_proj.parameters()):
            p.grad = None
        timer.seconds = 0.0
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        elapsed = time.perf_counter() - start
        if i > 0:
            times.append(elapsed)
            shares.append(timer.seconds / elapsed)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"time": statistics.median(times), "peak": peak, "recursion": statistics.median(shares)}


def _measure(cfg: dict) -> dict:
    """Run one configuration in a fresh subprocess; returns its measurements."""
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed for {cfg}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(device: str, args: argparse.Namespace) -> list[dict]:
    threads = torch.get_num_threads() if device == "cpu" else "-"
    print(f"\ndevice={device} dtype=float32 threads={threads} B={args.B} T={args.T} S={args.S} J={args.J} "
          f"prune_range={args.prune_range} repeats={args.repeats} (median; fwd+bwd)")
    header = (f"{'V':>6} {'full s':>9} {'full MiB':>10} {'pruned s':>9} {'pruned MiB':>11} "
              f"{'speedup':>8} {'mem ratio':>9} {'recursion %':>11}")
    print(header)
    print("-" * len(header))
    rows = []
    for V in args.vocab:
        base = {"device": device, "B": args.B, "T": args.T, "S": args.S, "V": V, "J": args.J,
                "prune_range": args.prune_range, "repeats": args.repeats}
        full = _measure({**base, "method": "full"})
        pruned = _measure({**base, "method": "pruned"})
        row = {"V": V, "full": full, "pruned": pruned, "speedup": full["time"] / pruned["time"],
               "mem_ratio": full["peak"] / max(pruned["peak"], 1)}
        rows.append(row)
        print(f"{V:>6} {full['time']:>9.3f} {full['peak'] / 2**20:>10.0f} {pruned['time']:>9.3f} "
              f"{pruned['peak'] / 2**20:>11.0f} {row['speedup']:>7.1f}x {row['mem_ratio']:>8.1f}x "
              f"{100 * pruned['recursion']:>10.1f}%", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--B", type=int, default=8)
    parser.add_argument("--T", type=int, default=250)
    parser.add_argument("--S", type=int, default=60)
    parser.add_argument("--J", type=int, default=256, help="joiner dim")
    parser.add_argument("--prune-range", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CPU, then CUDA when present")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_one(json.loads(args.child))))
        return 0
    devices = ["cpu", "cuda"] if args.device == "auto" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        devices.remove("cuda")
    verdicts = []
    for device in devices:
        last = _table(device, args)[-1]
        ok = last["speedup"] >= 3 and last["mem_ratio"] >= 5
        if device == "cpu":
            ok = ok and last["pruned"]["recursion"] <= 0.25
        verdicts.append(f"{device}: V={last['V']} {last['speedup']:.1f}x faster, {last['mem_ratio']:.1f}x less "
                        f"memory, recursion {100 * last['pruned']['recursion']:.1f}% -> "
                        f"{'targets met' if ok else 'targets MISSED'}")
    print("\nsummary: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
