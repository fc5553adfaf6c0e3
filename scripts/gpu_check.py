#!/usr/bin/env python3
"""GPU readiness check of hent-srt: one prepared run (<= 8 minutes on one GPU, nothing downloaded) that prints a
table and one summary line. Called by ``scripts/gpu_check.sh``; exit status 0 when every check passes, 1 when one
fails, 2 when no CUDA device is present (or an option is wrong).

Checks, all on generated data (``--seed``):

1. losses: the device paths of :mod:`hent_srt.loss` in float32 against the same functions on the CPU in float64,
   on B=4 utterances (T_b = 60, 52, 45, 33 frames, S_b = 12, 10, 7, 5 symbols, V = 50, prune range 5):
   ``rnnt_loss_smoothed`` (loss, its gradients, the arc occupancies), ``get_rnnt_prune_ranges`` (identical
   windows), ``do_rnnt_pruning`` (identical gathers), ``rnnt_loss_pruned`` and the full ``rnnt_loss`` (loss and
   logit gradients), ``ctc_loss`` and ``cr_ctc_consistency`` (loss and gradients). A row passes when
   |loss - loss_ref| <= 1e-5 max(1, |loss_ref|) and max |grad - grad_ref| / max(1, max |grad_ref|) <=
   max(1e-4, 16 eps |loss_ref|), eps = 2^-23: the gradients are arc occupancies exp(alpha + arc + beta - score)
   whose exponent carries a float32 rounding error proportional to the log-probabilities' size. Prune windows
   may differ where two windows hold nearly the same mass: that row passes when the device's windows hold at
   least 99.9% of the reference windows' blank occupancy.
2. train: ``--steps`` steps (default 50) of the ``--preset`` model (default ``hent_srt``: the published stage-2
   system, 73.1 M parameters, CR-CTC views) through :meth:`hent_srt.train.trainer.Trainer.train_step`, once with
   bf16 autocast and once with fp16 + GradScaler (``train.amp``), on ``--batch-seconds`` batches (default 200 s)
   of random 80-dim features whose utterance lengths are drawn from [2, 15] s, with random token sequences of
   3 tokens per second (ASR) and 2.5 (ST). The first min(5, steps // 10) steps are warm-up; over the others:
   seconds of audio per second, peak memory (``torch.cuda.max_memory_allocated``; the CPU run reports the
   process's peak resident set instead) and the model FLOPs utilisation MFU = (model FLOPs per second) / (the
   device's dense bf16 peak, a datasheet table, or ``--peak-tflops``). Model FLOPs are counted, not estimated:
   ``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward of each distinct batch (matrix
   products, convolutions and attention; the element-wise work and the loss recursions are not counted, so the
   MFU is a lower bound). A row passes when no step is skipped and every loss is finite.
3. ddp: ``--ddp-steps`` steps (default 10) of the same model and batches through ``torchrun`` and the trainer's
   real loop (:func:`hent_srt.train.trainer.run_training`: DistributedDataParallel, TensorBoard, the final
   checkpoint, read back with ``weights_only=True``), with the NCCL backend (gloo on the CPU). World size 1:
   NCCL refuses two ranks on one device, so the process group has one rank, DDP's bucketed all-reduce runs
   through NCCL over it, and the trainer's own cross-rank agreements are no-ops. Throughput is the steady state
   between the second and the last step.
4. decode: ``--decode-utts`` utterances (default 32) of ``--decode-seconds`` (default 10) random features,
   encoded in batches of 8 and searched per head with greedy search (1 symbol per frame) and modified beam search
   (``--beam``, default 4), float32; RTF = (encoder + search seconds) / audio seconds. The model is random, so
   its blank penalties are first set on the CPU as ``scripts/bench_decode.py`` does (one token per 3.5 encoder
   frames on two utterances), which makes the searches emit at a realistic rate.

    scripts/gpu_check.sh [--device cuda] [--preset hent_srt] [--steps 50] [--batch-seconds 200] [--json-out F]
    scripts/gpu_check.sh --dry-run    # the whole script on the CPU: tiny preset, 2 steps, small batches
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from hent_srt.data.loader import Batch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

FRAME_SHIFT_S = 0.01
TIME_LIMIT_S = 480.0
EXIT_NO_CUDA = 2
# Dense bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s, by a substring of the device name.
BF16_PEAK_TFLOPS = (
    ("H200", 989.4), ("H100 PCIe", 756.5), ("H100 NVL", 835.5), ("H100", 989.4), ("GH200", 989.4),
    ("A100", 312.0), ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0),
    ("RTX 4090", 165.2), ("RTX 6000 Ada", 364.2),
)
DRY_RUN = {"device": "cpu", "preset": "tiny", "steps": 2, "batch_seconds": 6.0, "ddp_steps": 3,
           "decode_utts": 4, "decode_seconds": 3.0, "time_limit": 0.0}


@dataclass
class Row:
    """One line of the table."""

    check: str
    setting: str
    ok: bool
    figures: str
    seconds: float
    values: dict[str, float] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where to run the checks [cuda]")
    p.add_argument("--preset", default="hent_srt", help="model preset of recipes/ [hent_srt: 73.1 M parameters]")
    p.add_argument("--steps", type=int, default=50, help="training steps per precision [50]")
    p.add_argument("--batch-seconds", type=float, default=200.0, help="seconds of audio per training batch [200]")
    p.add_argument("--ddp-steps", type=int, default=10, help="steps of the torchrun check [10]")
    p.add_argument("--decode-utts", type=int, default=32, help="utterances decoded [32]")
    p.add_argument("--decode-seconds", type=float, default=10.0, help="seconds per decoded utterance [10]")
    p.add_argument("--beam", type=int, default=4, help="beam of modified beam search [4]")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's bf16 peak (default: datasheet)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT_S,
                   help=f"seconds after which the remaining sections are not started [{TIME_LIMIT_S:g}; 0: none]")
    p.add_argument("--json-out", type=Path, default=None, help="also write every row as JSON here")
    p.add_argument("--dry-run", action="store_true",
                   help="check the script on the CPU: " + ", ".join(f"{k}={v}" for k, v in DRY_RUN.items()))
    p.add_argument("--ddp-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.dry_run:
        for key, value in DRY_RUN.items():
            setattr(args, key, value)
    for name in ("steps", "ddp_steps", "decode_utts", "beam"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("batch_seconds", "decode_seconds"):
        if not getattr(args, name) >= 3.0:
            p.error(f"--{name.replace('_', '-')} must be >= 3 seconds")
    return args


# ---------------------------------------------------------------------------------------------------------
# generated data


def audio_seconds(batch: Batch) -> float:
    """Seconds of audio in a batch (its feature frames at 10 ms)."""
    return float(batch.feature_lens.sum()) * FRAME_SHIFT_S


def make_batch(seconds: float, vocab: tuple[int, int], g: torch.Generator, name: str) -> Batch:
    """A loader :class:`~hent_srt.data.loader.Batch` of utterances of [2, 15] s (at most ``seconds`` in all), sorted
    longest first, with random features and random tokens 3..V-1."""
    from hent_srt.data.loader import Batch

    lengths = []
    while True:
        length = float(torch.empty(()).uniform_(2.0, min(15.0, seconds), generator=g))
        if sum(lengths) + length > seconds:
            break
        lengths.append(length)
    frames = sorted((round(x / FRAME_SHIFT_S) for x in lengths), reverse=True)
    features = torch.zeros(len(frames), frames[0], 80)
    for b, n in enumerate(frames):
        features[b, :n] = torch.randn(n, 80, generator=g)

    def tokens(rate: float, size: int) -> list[list[int]]:
        return [torch.randint(3, size, (max(1, int(n * FRAME_SHIFT_S * rate)),), generator=g).tolist() for n in frames]

    ids = [f"{name}-{b}" for b in range(len(frames))]
    return Batch(features, torch.tensor(frames), tokens(3.0, vocab[0]), tokens(2.5, vocab[1]),
                 [""] * len(frames), [""] * len(frames), ids)


class SyntheticLoader:
    """The trainer's TrainLoader protocol over a fixed list of batches, cycled; records when each is asked for."""

    def __init__(self, batches: list[Batch], per_epoch: int, device: torch.device) -> None:
        self.batches, self.per_epoch, self.device = batches, per_epoch, device
        self.epoch, self.position = 0, 0
        self.requested_at: list[float] = []

    def __iter__(self) -> Iterator[Batch]:
        while self.position < self.per_epoch:
            _sync(self.device)
            self.requested_at.append(time.perf_counter())
            self.position += 1
            yield self.batches[(self.position - 1) % len(self.batches)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}%" if math.isfinite(fraction) else "n/a"


def _max_rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    """max |a - ref| / max(1, max |ref|), ``a`` moved to the CPU in float64."""
    a = a.detach().to("cpu", torch.float64)
    return float((a - ref).abs().max()) / max(1.0, float(ref.abs().max())) if ref.numel() else 0.0


# ---------------------------------------------------------------------------------------------------------
# 1. losses against CPU float64


def loss_checks(device: torch.device, seed: int) -> list[Row]:
    from hent_srt.loss import (
        cr_ctc_consistency,
        ctc_loss,
        do_rnnt_pruning,
        get_rnnt_prune_ranges,
        rnnt_loss,
        rnnt_loss_pruned,
        rnnt_loss_smoothed,
    )

    g = torch.Generator().manual_seed(seed)
    B, T, S, V, R = 4, 60, 12, 50, 5
    t_lens, s_lens = torch.tensor([60, 52, 45, 33]), torch.tensor([12, 10, 7, 5])
    boundary = torch.stack([torch.zeros(B, dtype=torch.int64), torch.zeros(B, dtype=torch.int64), s_lens, t_lens], 1)
    symbols = torch.randint(1, V, (B, S), generator=g)
    data = {"lm": torch.randn(B, S + 1, V, generator=g), "am": torch.randn(B, T, V, generator=g),
            "pruned": torch.randn(B, T, R, V, generator=g), "full": torch.randn(B, T, S + 1, V, generator=g),
            "ctc": torch.randn(B, T, V, generator=g), "view_b": torch.randn(B, T, V, generator=g),
            "am_proj": torch.randn(B, T, 16, generator=g), "lm_proj": torch.randn(B, S + 1, 16, generator=g)}
    rows = []

    def run(where: torch.device, dtype: torch.dtype) -> dict[str, Any]:
        x = {k: v.to(where, dtype).requires_grad_(True) for k, v in data.items()}
        sym, bnd = symbols.to(where), boundary.to(where)
        out: dict[str, Any] = {}
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(x["lm"], x["am"], sym, 0, lm_only_scale=0.25,
                                                        am_only_scale=0.0, boundary=bnd, reduction="sum",
                                                        return_grad=True)
        simple.backward()
        out["smoothed"] = (simple, [x["lm"].grad, x["am"].grad, px_grad, py_grad])
        out["ranges"] = get_rnnt_prune_ranges(px_grad, py_grad, bnd, R)
        ranges = ranges_ref.to(where) if ranges_ref is not None else out["ranges"]  # both runs prune alike
        am_pruned, lm_pruned = do_rnnt_pruning(x["am_proj"], x["lm_proj"], ranges)
        out["gather"] = (am_pruned.detach(), lm_pruned.detach())
        pruned = rnnt_loss_pruned(x["pruned"], sym, ranges, 0, boundary=bnd, reduction="sum")
        pruned.backward()
        out["pruned"] = (pruned, [x["pruned"].grad])
        full = rnnt_loss(x["full"], sym, 0, boundary=bnd, reduction="sum")
        full.backward()
        out["full"] = (full, [x["full"].grad])
        log_probs = x["ctc"].log_softmax(-1)
        ctc, _ = ctc_loss(log_probs, t_lens.to(where), sym, s_lens.to(where), blank=0)
        ctc.backward()
        out["ctc"] = (ctc, [x["ctc"].grad])
        cr = cr_ctc_consistency(x["ctc"].detach().log_softmax(-1).requires_grad_(True), x["view_b"].log_softmax(-1),
                                t_lens.to(where))
        cr.backward()
        out["cr_ctc"] = (cr, [x["view_b"].grad])
        return out

    start = time.perf_counter()
    ranges_ref = None
    ref = run(torch.device("cpu"), torch.float64)
    ranges_ref = ref["ranges"]
    test = run(device, torch.float32)
    seconds = time.perf_counter() - start  # of the whole comparison, on every row
    setting = f"{device.type} float32 vs cpu float64"
    for name in ("smoothed", "pruned", "full", "ctc", "cr_ctc"):
        (loss_ref, grads_ref), (loss, grads) = ref[name], test[name]
        loss, loss_ref = float(loss.detach()), float(loss_ref.detach())
        loss_err = abs(loss - loss_ref) / max(1.0, abs(loss_ref))
        grad_err = max(_max_rel(a, b.detach()) for a, b in zip(grads, grads_ref))
        grad_tol = max(1e-4, 16 * 2.0**-23 * abs(loss_ref))
        rows.append(Row(f"loss {name}", setting, loss_err <= 1e-5 and grad_err <= grad_tol,
                        f"loss {loss:.4f}, rel err {loss_err:.1e}, grad err {grad_err:.1e} (tol {grad_tol:.1e})",
                        seconds,
                        {"loss_rel_err": loss_err, "grad_rel_err": grad_err}))
    agree = float((test["ranges"].cpu() == ranges_ref).double().mean())
    occupancy = ref["smoothed"][1][3].detach()  # py_grad (B, S + 1, T) of the float64 reference
    mass = {name: float(sum(occupancy[b].gather(0, r[b, : t_lens[b]].T).sum() for b in range(B)))
            for name, r in (("test", test["ranges"].cpu()), ("ref", ranges_ref))}
    kept = mass["test"] / mass["ref"]
    gather_err = max(_max_rel(a, b.to(torch.float64)) for a, b in zip(test["gather"], ref["gather"]))
    rows.append(Row("loss prune ranges", setting, kept >= 0.999 and gather_err <= 1e-6,
                    f"windows identical {100 * agree:.1f}%, blank occupancy inside them {100 * kept:.3f}% of the "
                    f"reference windows', gather err {gather_err:.1e}", seconds,
                    {"ranges_agree": agree, "occupancy_kept": kept, "gather_err": gather_err}))
    return rows


# ---------------------------------------------------------------------------------------------------------
# 2. training steps


def build_config(preset: str, amp: str, batch_seconds: float | None = None, **train: Any) -> Any:
    """The preset with ``train.amp``, no logging or validation metrics, and ``data.max_duration`` = the batches'."""
    from hent_srt.config import load_config

    overrides = [f"train.amp={amp}", "train.log_interval=1000000", "train.valid_metrics_num_utts=0"]
    if batch_seconds is not None:
        overrides.append(f"data.max_duration={batch_seconds}")
    return load_config(preset, overrides + [f"train.{k}={v}" for k, v in train.items()])


def build_model(config: Any, seed: int) -> torch.nn.Module:
    from hent_srt.model.hent import build_model as build

    torch.manual_seed(seed)
    return build(config.model, config.loss)


def training_batches(config: Any, seconds: float, seed: int, count: int = 5) -> list[Batch]:
    g = torch.Generator().manual_seed(seed + 1)
    vocab = (config.model.asr_vocab_size, config.model.st_vocab_size)
    return [make_batch(seconds, vocab, g, f"train{i}") for i in range(count)]


def count_flops(model: torch.nn.Module, batches: list[Batch], device: torch.device,
                autocast: Callable[[], contextlib.AbstractContextManager]) -> list[float]:
    """Forward + backward FLOPs of each batch (FlopCounterMode), without an optimizer step."""
    from torch.utils.flop_counter import FlopCounterMode

    from hent_srt.train.trainer import hent_srt_inputs

    flops = []
    model.train()
    for batch in batches:
        counter = FlopCounterMode(display=False)
        with counter, autocast():
            loss = model(*hent_srt_inputs(batch.to(device)))["loss"]
        with counter:
            loss.backward()
        model.zero_grad(set_to_none=True)
        flops.append(float(counter.get_total_flops()))
    return flops


def peak_flops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    if override is not None:
        return override * 1e12, f"--peak-tflops {override:g}"
    if device.type != "cuda":
        return None, "no bf16 peak on the CPU (pass --peak-tflops for an MFU)"
    name = torch.cuda.get_device_name(device)
    for key, tflops in BF16_PEAK_TFLOPS:
        if key in name:
            return tflops * 1e12, f"{name}: {tflops:g} TFLOP/s dense bf16 (datasheet)"
    return None, f"{name}: bf16 peak unknown (pass --peak-tflops for an MFU)"


def peak_memory_gib(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30, "GiB allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "GiB process peak RSS"


def train_check(args: argparse.Namespace, device: torch.device, amp: str, batches: list[Batch],
                flops: list[float], peak: float | None) -> Row:
    from hent_srt.train.trainer import Trainer, hent_srt_inputs

    config = build_config(args.preset, amp, args.batch_seconds)
    model = build_model(config, args.seed)
    warmup = min(5, args.steps // 10)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as exp:
        trainer = Trainer(config, model, None, None, exp, device=device, show_progress=False,
                          model_inputs=hent_srt_inputs)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        losses, skipped, audio, model_flops = [], 0, 0.0, 0.0
        start = time.perf_counter()
        for step in range(1, args.steps + 1):
            if step == warmup + 1:
                _sync(device)
                start = time.perf_counter()
            batch = batches[(step - 1) % len(batches)]
            trainer.state.batch_idx_train = step
            values = trainer.train_step(batch)
            if values is None:
                skipped += 1
            else:
                losses.append(values["loss"] / values["frames"])
            if step > warmup:
                audio += audio_seconds(batch)
                model_flops += flops[(step - 1) % len(batches)]
        _sync(device)
        seconds = time.perf_counter() - start
        memory, memory_kind = peak_memory_gib(device)
        grad_scale = trainer.scaler.get_scale() if trainer.scaler.is_enabled() else 1.0
        dtype = trainer.amp.name
    timed = args.steps - warmup
    mfu = model_flops / seconds / peak if peak else math.nan
    ok = skipped == 0 and all(math.isfinite(x) for x in losses)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    figures = (f"{audio / seconds:.4g} s audio/s, {seconds / timed:.3g} s/step, {memory:.1f} {memory_kind}, "
               f"MFU {_percent(mfu)}, {model_flops / seconds / 1e12:.3g} TFLOP/s, loss/frame "
               f"{losses[0] if losses else math.nan:.3f} -> {losses[-1] if losses else math.nan:.3f}, "
               f"{skipped} skipped" + (f", grad scale {grad_scale:g}" if amp == "fp16" else ""))
    del trainer, model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return Row(f"train {amp}", f"{args.preset} {params:.1f} M, {dtype} on {device.type}, {timed} timed of "
               f"{args.steps} steps, {args.batch_seconds:g} s batches", ok, figures, seconds,
               {"audio_s_per_s": audio / seconds, "s_per_step": seconds / timed, "peak_memory_gib": memory,
                "mfu": mfu, "tflops": model_flops / seconds / 1e12, "skipped": skipped})


# ---------------------------------------------------------------------------------------------------------
# 3. DDP through torchrun


def ddp_worker(args: argparse.Namespace) -> int:
    """One torchrun rank: join the group, train ``--ddp-steps`` steps with run_training, report as JSON."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from hent_srt.train.checkpoint import load_checkpoint
    from hent_srt.train.trainer import Components, hent_srt_inputs, run_training

    device = torch.device(args.device, int(os.environ.get("LOCAL_RANK", "0")) if args.device == "cuda" else None)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    config = build_config(args.preset, "bf16", args.batch_seconds, max_steps=args.ddp_steps, save_every_n=10**9)
    batches = training_batches(config, args.batch_seconds, args.seed)
    report: dict[str, Any] = {"backend": dist.get_backend(), "world_size": dist.get_world_size()}
    loader = SyntheticLoader(batches, per_epoch=args.ddp_steps + 1, device=device)

    def build(cfg: Any, dist_info: Any) -> Components:
        return Components(model=build_model(cfg, args.seed), train_loader=loader, valid_loader=None,
                          model_inputs=hent_srt_inputs)

    exp = args.ddp_worker.parent / "exp"
    trainer = run_training(config, exp, build=build, show_progress=False)
    ckpt = load_checkpoint(exp / f"checkpoint-{args.ddp_steps}.pt", mmap=True)
    same = all(torch.equal(v.cpu(), ckpt["model"][k]) for k, v in trainer.raw_model.state_dict().items())
    times = loader.requested_at  # t_k: when step k asked for its batch; steps 2 .. N-1 lie between t_2 and t_N
    steady = len(times) - 2
    audio = sum(audio_seconds(batches[k % len(batches)]) for k in range(1, steady + 1))
    report.update(
        ddp=isinstance(trainer.model, DistributedDataParallel), steps=trainer.state.batch_idx_train,
        skipped=trainer.state.num_skipped_nonfinite + trainer.state.num_skipped_oom, checkpoint_matches=same,
        s_per_step=(times[-1] - times[1]) / steady if steady > 0 else math.nan,
        audio_s_per_s=audio / (times[-1] - times[1]) if steady > 0 else math.nan)
    args.ddp_worker.write_text(json.dumps(report))
    return 0


def ddp_check(args: argparse.Namespace) -> Row:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_ddp_") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
               str(Path(__file__).resolve()), "--ddp-worker", str(out), "--device", args.device,
               "--preset", args.preset, "--ddp-steps", str(args.ddp_steps),
               "--batch-seconds", str(args.batch_seconds), "--seed", str(args.seed)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return Row("ddp torchrun", "world size 1", False, "timed out after 300 s", time.perf_counter() - start)
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return Row("ddp torchrun", "world size 1", False, f"exit {proc.returncode}: {' | '.join(tail)}", seconds)
        report = json.loads(out.read_text())
    ok = report["ddp"] and report["steps"] == args.ddp_steps and report["skipped"] == 0 and report["checkpoint_matches"]
    setting = f"{report['backend']}, world size {report['world_size']}, {args.ddp_steps} steps, bf16"
    figures = (f"DDP {'on' if report['ddp'] else 'OFF'}, {report['audio_s_per_s']:.4g} s audio/s, "
               f"{report['s_per_step']:.3g} s/step, {report['skipped']} skipped, checkpoint-{args.ddp_steps}.pt "
               f"{'read back equal' if report['checkpoint_matches'] else 'DIFFERS'} (weights_only)")
    return Row("ddp torchrun", setting, bool(ok), figures, seconds, report)


# ---------------------------------------------------------------------------------------------------------
# 4. decoding


def decode_rows(args: argparse.Namespace, device: torch.device) -> list[Row]:
    from bench_decode import calibrate_all

    from hent_srt.search.beam import modified_beam_search
    from hent_srt.train.valid_metrics import greedy_token_ids

    config = build_config(args.preset, "none")
    model = build_model(config, args.seed).eval()
    g = torch.Generator().manual_seed(args.seed + 2)
    frames = round(args.decode_seconds / FRAME_SHIFT_S)
    x = torch.randn(args.decode_utts, frames, 80, generator=g)
    x_lens = torch.full((args.decode_utts,), frames, dtype=torch.int64)
    penalties = calibrate_all(model, x, x_lens, {t: 1 for t in model.cfg.tasks}, 3.5, {})
    model.to(device)
    audio = args.decode_utts * args.decode_seconds
    batch = 8
    searches: dict[str, Callable[..., list[list[int]]]] = {
        "greedy": lambda task, enc: greedy_token_ids(model, task, enc.out, enc.lens, penalties[task], 1),
        f"beam {args.beam}": lambda task, enc: modified_beam_search(
            model.heads[task], model.heads[task].project_encoder(enc.out), enc.lens, args.beam, penalties[task]),
    }
    with torch.no_grad():
        model.encode(x[:batch].to(device), x_lens[:batch].to(device))  # warm-up at the timed shape
        _sync(device)
        start = time.perf_counter()
        encoded = [model.encode(x[i:i + batch].to(device), x_lens[i:i + batch].to(device))
                   for i in range(0, args.decode_utts, batch)]
        _sync(device)
        enc_s = time.perf_counter() - start
        rows = []
        for method, search in searches.items():
            for task in model.cfg.tasks:
                start = time.perf_counter()
                tokens = sum(len(h) for part in encoded for h in search(task, part[task]))
                _sync(device)
                search_s = time.perf_counter() - start
                rtf = (enc_s + search_s) / audio
                rows.append(Row(f"decode {method} {task}",
                                f"{args.decode_utts} x {args.decode_seconds:g} s, batches of {batch}, float32, "
                                f"blank penalty {penalties[task]:.2f}", tokens > 0,
                                f"RTF {rtf:.4f} (encoder {enc_s:.2f} s, search {search_s:.2f} s), "
                                f"{tokens / audio:.1f} tokens/s of audio", enc_s + search_s,
                                {"rtf": rtf, "encoder_s": enc_s, "search_s": search_s, "tokens": tokens}))
    return rows


# ---------------------------------------------------------------------------------------------------------
# the run


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return (f"{props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}, "
                f"CUDA {torch.version.cuda}")
    return f"CPU ({torch.get_num_threads()} threads), torch {torch.__version__}"


def print_table(rows: list[Row]) -> None:
    widths = [max(len(r.check) for r in rows), max(len(r.setting) for r in rows)]
    print(f"{'check':<{widths[0]}}  {'setting':<{widths[1]}}  result  figures")
    for r in rows:
        print(f"{r.check:<{widths[0]}}  {r.setting:<{widths[1]}}  {'ok' if r.ok else 'FAIL':<6}  {r.figures}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ddp_worker is not None:
        return ddp_worker(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(f"gpu_check: no CUDA device (torch {torch.__version__}, {built}): this check needs one GPU. Run it on a "
              "GPU machine with a CUDA build of torch (make install TORCH_SPEC=...), or check the script itself on "
              "the CPU with scripts/gpu_check.sh --dry-run", file=sys.stderr)
        return EXIT_NO_CUDA
    device = torch.device(args.device)
    random.seed(args.seed)
    began = time.perf_counter()
    print(f"gpu_check on {describe_device(device)}; preset {args.preset}")
    rows: list[Row] = []
    sections: list[tuple[str, Callable[[], list[Row]]]] = [("losses", lambda: loss_checks(device, args.seed))]

    def training() -> list[Row]:
        from hent_srt.train.trainer import resolve_amp

        config = build_config(args.preset, "bf16", args.batch_seconds)
        batches = training_batches(config, args.batch_seconds, args.seed)
        amp = resolve_amp("bf16", device)
        autocast = (lambda: torch.autocast(device.type, dtype=amp.dtype)) if amp.dtype else contextlib.nullcontext
        model = build_model(config, args.seed).to(device)
        flops = count_flops(model, batches, device, autocast)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        peak, peak_source = peak_flops(device, args.peak_tflops)
        print(f"model FLOPs per training step (FlopCounterMode, forward + backward): "
              f"{sum(flops) / len(flops) / 1e12:.2f} TFLOP on average over {len(batches)} batches "
              f"of {sum(audio_seconds(b) for b in batches) / len(batches):.0f} s; peak: {peak_source}")
        return [train_check(args, device, amp_name, batches, flops, peak) for amp_name in ("bf16", "fp16")]

    sections += [("train", training), ("ddp", lambda: [ddp_check(args)]), ("decode", lambda: decode_rows(args, device))]
    for name, section in sections:
        if args.time_limit and time.perf_counter() - began > args.time_limit:
            rows.append(Row(name, "-", False, f"not run: the {args.time_limit:.0f} s budget is spent", 0.0))
            continue
        start = time.perf_counter()
        try:
            rows += section()
        except Exception as err:  # a failing section is a row of the table, the others still run
            rows.append(Row(name, "-", False, f"{type(err).__name__}: {err}", time.perf_counter() - start))
        print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)
    elapsed = time.perf_counter() - began
    print()
    print_table(rows)
    passed = sum(r.ok for r in rows)
    trains = {r.check: r.values for r in rows if r.check.startswith("train") and r.values}
    figures = ", ".join(f"{k.split()[1]} {v['audio_s_per_s']:.4g} s audio/s MFU {_percent(v['mfu'])}"
                        for k, v in trains.items())
    in_time = not args.time_limit or elapsed <= args.time_limit
    budget = f" ({'within' if in_time else 'OVER'} the {args.time_limit:.0f} s budget)" if args.time_limit else ""
    print(f"gpu_check: {passed}/{len(rows)} checks passed on {describe_device(device)} in {elapsed:.0f} s"
          f"{budget}{'; ' + figures if figures else ''}")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"device": describe_device(device), "elapsed_s": elapsed,
                                             "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    return 0 if passed == len(rows) and in_time else 1


if __name__ == "__main__":
    sys.exit(main())
