#!/usr/bin/env python3
"""Benchmark: where one training step of a HENT-SRT model spends its time, piece by piece, with CR-CTC off and on.

The model is built from a training config (default ``egs/mini/conf/hent_srt.yaml``, the demo's stage 4) and run on
one synthetic batch shaped like the demo's average batch (``--batch`` utterances of at most ``--frames`` 10 ms
frames, lengths drawn in [0.67, 1] x frames, the longest exactly ``--frames``; token counts ~ frames / 17 (ASR)
and ~ frames / 15 (ST), as on the mini es-en corpus). Float32 on the CPU, ``--threads`` threads, training mode with
the model's schedules at ``--batch-count`` (the adjusted batch count of the demo's middle).

Each piece is timed in isolation: its inputs are detached copies of what the previous piece produced (with
``requires_grad``), its backward gets a fixed random gradient (a scalar loss's gradient is 1):

    views       make_views: time warp once, mask both copies (CR-CTC only; no backward)
    front end   Conv2dSubsampling on the (views of the) batch
    ENC_asr     Zipformer2 ASR encoder (and the tap for ENC_st)
    ENC_st      Zipformer2 ST encoder on the tap (hierarchical models)
    <task> simple   simple-loss projections + smoothed RNN-T loss + prune ranges
    <task> pruned   joiner on the pruned lattice + pruned RNN-T loss (prune ranges precomputed)
    <task> ctc+cr   CTC head, CTC loss and (CR-CTC) the consistency term
    optimizer   one ScaledAdam step with the gradients of a full step

The last rows time the whole thing as the trainer runs it: forward of ``model(batch)`` + backward + optimizer
step. Every time is the fastest of ``--repeats`` after ``--warmup`` runs (the minimum: other jobs on a shared machine
only ever add time), on the wall clock or (``--clock cpu``) the process's CPU clock, which other jobs disturb
less. Each mode runs in a fresh process (seeded), so the modes see the same batch and do not share warm caches.
The table gives forward and backward milliseconds per piece and the step's seconds of (original, not duplicated)
audio per second; the summary line compares the modes.

    python scripts/bench_train_step.py [--config egs/mini/conf/hent_srt.yaml] [--modes off,on]
        [--batch 14] [--frames 224] [--threads 2] [--repeats 5] [--clock wall|cpu] [--set KEY=VALUE ...]

A mode is "off" (CR-CTC off), "on" (CR-CTC on) or either followed by "+KEY=VALUE,..." config overrides
(several modes are separated by ";" when an override holds a comma), e.g. ``off;on;on+loss.time_mask_ratio=1``.
The demo's step and that of its CR-CTC confs (conf/*_cr.yaml): ``--batch 14 --modes off`` (30 s batches, one view) against
``--batch 7 --modes on`` (15 s per view, two views).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

from hent_srt.config import load_config
from hent_srt.model.augment import make_views
from hent_srt.model.hent import EncoderOutput, HentSrt, build_model, pad_tokens
from hent_srt.model.scaling import set_batch_count
from hent_srt.optim import ScaledAdam

REPO = Path(__file__).resolve().parents[1]
ASR_FRAMES_PER_TOKEN = 17
ST_FRAMES_PER_TOKEN = 15


def make_batch(batch: int, frames: int, asr_vocab: int, st_vocab: int, seed: int = 0) -> SimpleNamespace:
    """A loader-like batch: features (B, T, 80), feature_lens (B,) sorted decreasing, token lists per task."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(int(0.67 * frames), frames + 1, (batch,), generator=g)
    lens[0] = frames
    lens, _ = lens.sort(descending=True)
    feats = torch.randn(batch, frames, 80, generator=g)
    for b, n in enumerate(lens.tolist()):
        feats[b, n:] = 0.0

    def tokens(vocab: int, per: int) -> list[list[int]]:
        return [torch.randint(1, vocab, (max(1, n // per),), generator=g).tolist() for n in lens.tolist()]

    return SimpleNamespace(features=feats, feature_lens=lens, src_tokens=tokens(asr_vocab, ASR_FRAMES_PER_TOKEN),
                           tgt_tokens=tokens(st_vocab, ST_FRAMES_PER_TOKEN),
                           cut_ids=[f"utt{b}" for b in range(batch)])


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


def _best_ms(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1000.0 * min(times)


def _fwd_bwd(forward: Callable[[], torch.Tensor | tuple], warmup: int, repeats: int) -> tuple[float, float]:
    """(forward ms, backward ms) of ``forward``, whose outputs get fixed random gradients."""
    outs = forward()
    outs = outs if isinstance(outs, tuple) else (outs,)
    grads = [torch.ones_like(o) if o.dim() == 0 else torch.randn_like(o) for o in outs]

    def run_fwd() -> None:
        with torch.no_grad():
            forward()

    def run_both() -> None:
        o = forward()
        torch.autograd.backward(list(o if isinstance(o, tuple) else (o,)), grads)

    fwd = _best_ms(run_fwd, warmup, repeats)
    both = _best_ms(run_both, warmup, repeats)
    return fwd, max(both - fwd, 0.0)


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(x.is_floating_point())


def measure(config_path: str, overrides: list[str], batch_shape: tuple[int, int], threads: int,
            batch_count: float, warmup: int, repeats: int, clock_name: str) -> dict:
    """Run in a child process: the pieces, then the whole step."""
    global clock
    clock = CLOCK[clock_name]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(config_path, overrides)
    model: HentSrt = build_model(cfg.model, cfg.loss)
    model.train()
    set_batch_count(model, batch_count)
    model.batch_count = batch_count
    batch = make_batch(*batch_shape, cfg.model.asr_vocab_size, cfg.model.st_vocab_size)
    two_views = cfg.model.use_ctc and cfg.loss.use_cr_ctc
    rows: dict[str, tuple[float, float]] = {}

    x, x_lens = batch.features, batch.feature_lens
    token_lists = {"asr": list(batch.src_tokens), "st": list(batch.tgt_tokens)}
    if two_views:
        rows["views"] = (_best_ms(lambda: make_views(x, x_lens, model.spec_augment), warmup, repeats), 0.0)
        x = make_views(x, x_lens, model.spec_augment)
        x_lens = x_lens.repeat(2)
        token_lists = {t: v + v for t, v in token_lists.items()}
    x_in = _leaf(x)
    rows["front end"] = _fwd_bwd(lambda: model.encoder_embed(x_in, x_lens)[0], warmup, repeats)
    emb, emb_lens = model.encoder_embed(x, x_lens)
    emb_in = _leaf(emb)
    if model.st_encoder is None:
        rows["ENC_asr"] = _fwd_bwd(lambda: model.encoder(emb_in, emb_lens)[0], warmup, repeats)
        out, lens = model.encoder(emb, emb_lens)
        encoded = {t: EncoderOutput(out, lens) for t in cfg.model.tasks}
    else:
        stack = cfg.model.st_tap_stack

        def asr_forward() -> tuple[torch.Tensor, torch.Tensor]:
            out, _, tap, _ = model.encoder(emb_in, emb_lens, return_stack=stack)
            return out, tap

        rows["ENC_asr"] = _fwd_bwd(asr_forward, warmup, repeats)
        out, lens, tap, tap_lens = model.encoder(emb, emb_lens, return_stack=stack)
        tap_in = _leaf(tap)
        rows["ENC_st"] = _fwd_bwd(lambda: model.st_encoder(tap_in, tap_lens)[0], warmup, repeats)
        st_out, st_lens = model.st_encoder(tap, tap_lens)
        encoded = {"asr": EncoderOutput(out, lens), "st": EncoderOutput(st_out, st_lens)}
    for task in cfg.model.tasks:
        tokens, token_lens = pad_tokens(token_lists[task], x.device)
        enc = EncoderOutput(_leaf(encoded[task].out), encoded[task].lens)
        simple, pruned = _loss_pieces(model, task, enc, tokens, token_lens, warmup, repeats)
        rows[f"{task} simple"] = simple
        rows[f"{task} pruned"] = pruned
        if cfg.model.use_ctc:
            rows[f"{task} ctc+cr"] = _fwd_bwd(
                lambda t=task, e=enc, y=tokens, yl=token_lens: _ctc_total(model, t, e, y, yl, two_views),
                warmup, repeats,
            )

    optimizer = ScaledAdam([(n, p) for n, p in model.named_parameters() if p.requires_grad], lr=1e-4)

    def step(update: bool) -> None:
        loss = model(batch)["loss"]
        loss.backward()
        if update:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    model(batch)["loss"].backward()
    rows["optimizer"] = (_best_ms(optimizer.step, warmup, repeats), 0.0)
    optimizer.zero_grad(set_to_none=True)
    step_ms = _best_ms(lambda: step(True), warmup, repeats)
    audio = float(batch.feature_lens.sum()) / 100.0
    params = sum(p.numel() for p in model.parameters())
    return {"rows": rows, "step_ms": step_ms, "audio_s": audio, "params": params, "two_views": two_views,
            "shape": tuple(batch.features.shape), "encoder_type": cfg.model.encoder_type}


def _ctc_total(model: HentSrt, task: str, enc: EncoderOutput, tokens: torch.Tensor, token_lens: torch.Tensor,
               two_views: bool) -> torch.Tensor:
    ctc, cr, _ = model.ctc_losses(task, enc, tokens, token_lens, two_views)
    return ctc + cr


def _loss_pieces(model: HentSrt, task: str, enc: EncoderOutput, tokens: torch.Tensor, token_lens: torch.Tensor,
                 warmup: int, repeats: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(simple, pruned) (fwd ms, bwd ms): the whole transducer_losses timed, and its pruned part timed with
    the prune ranges frozen; simple = whole - pruned."""
    from hent_srt.loss import do_rnnt_pruning, get_rnnt_prune_ranges, rnnt_loss_pruned, rnnt_loss_smoothed

    head = model.heads[task]
    whole = _fwd_bwd(lambda: sum(model.transducer_losses(task, enc, tokens, token_lens)), warmup, repeats)
    batch = tokens.size(0)
    sos = torch.cat([torch.zeros(batch, 1, dtype=tokens.dtype), tokens], 1)
    boundary = torch.zeros(batch, 4, dtype=torch.int64)
    boundary[:, 2] = token_lens
    boundary[:, 3] = enc.lens
    prune_range = model.loss_cfg.prune_range_asr if task == "asr" else model.loss_cfg.prune_range_st
    with torch.no_grad():
        dec = head.predictor(sos)
        _, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm=head.simple_lm_proj(dec), am=head.simple_am_proj(enc.out), symbols=tokens, termination_symbol=0,
            lm_only_scale=model.loss_cfg.lm_scale, am_only_scale=model.loss_cfg.am_scale, boundary=boundary,
            reduction="sum", return_grad=True,
        )
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, prune_range)

    def pruned() -> torch.Tensor:
        decoder_out = head.predictor(sos)
        am, lm = do_rnnt_pruning(head.joiner.encoder_proj(enc.out), head.joiner.decoder_proj(decoder_out), ranges)
        logits = head.joiner(am, lm, project_input=False)
        return rnnt_loss_pruned(logits=logits, symbols=tokens, ranges=ranges, termination_symbol=0,
                                boundary=boundary, reduction="sum")

    part = _fwd_bwd(pruned, warmup, repeats)
    return (max(whole[0] - part[0], 0.0), max(whole[1] - part[1], 0.0)), part


def _child(args: tuple, queue: mp.Queue) -> None:
    queue.put(measure(*args))


def run_isolated(*args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def parse_mode(mode: str) -> tuple[str, list[str]]:
    """"on+loss.x=1,model.y=2" -> ("on+...", ["loss.use_cr_ctc=true", "loss.x=1", "model.y=2"])."""
    base, _, extra = mode.partition("+")
    if base not in ("off", "on"):
        raise ValueError(f"mode {mode!r}: must start with 'off' or 'on' (CR-CTC), e.g. on+loss.time_mask_ratio=2")
    overrides = [f"loss.use_cr_ctc={'true' if base == 'on' else 'false'}"]
    return mode, overrides + [o for o in extra.split(",") if o]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "egs/mini/conf/hent_srt.yaml"))
    parser.add_argument("--modes", default="off,on", help="modes separated by ',' (or ';'): off, on, off+KEY=VALUE,...")
    parser.add_argument("--batch", type=int, default=14, help="utterances per batch (demo average: 14)")
    parser.add_argument("--frames", type=int, default=224, help="longest utterance in frames (demo average: 224)")
    parser.add_argument("--asr-vocab", type=int, default=200)
    parser.add_argument("--st-vocab", type=int, default=155)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-count", type=float, default=3000.0)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                        help="wall: elapsed seconds; cpu: CPU seconds of the process, all threads (steadier than wall "
                             "time when other jobs share the cores, and about threads x wall time when they do not)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every mode")
    args = parser.parse_args(argv)
    sep = ";" if ";" in args.modes else ","
    modes = [parse_mode(m) for m in args.modes.split(sep) if m]
    common = [f"model.asr_vocab_size={args.asr_vocab}", f"model.st_vocab_size={args.st_vocab}", *args.overrides]
    results = {}
    for name, overrides in modes:
        results[name] = run_isolated(args.config, common + overrides, (args.batch, args.frames), args.threads,
                                     args.batch_count, args.warmup, args.repeats, args.clock)
    first = next(iter(results.values()))
    print(f"config {args.config}; batch {args.batch} utterances x <= {args.frames} frames ({first['audio_s']:.1f} s "
          f"of audio), float32, CPU, {args.threads} threads, {first['params'] / 1e6:.2f} M parameters; "
          f"{args.clock} clock, fastest of {args.repeats} after {args.warmup} warm-up")
    names = list(results)
    pieces = list(dict.fromkeys(p for r in results.values() for p in r["rows"]))
    header = "| piece | " + " | ".join(f"{n} fwd ms | {n} bwd ms" for n in names) + " |"
    print(header)
    print("|---|" + "---:|---:|" * len(names))
    for piece in pieces:
        cells = []
        for n in names:
            fwd, bwd = results[n]["rows"].get(piece, (float("nan"), float("nan")))
            cells += [f"{fwd:.1f}", f"{bwd:.1f}"]
        print(f"| {piece} | " + " | ".join(cells) + " |")
    sums = [sum(f + b for f, b in results[n]["rows"].values()) for n in names]
    print("| sum of pieces (ms) | " + " | ".join(f"{s:.0f} | " for s in sums) + "|")
    print("| whole step (fwd+bwd+opt, ms) | " + " | ".join(f"{results[n]['step_ms']:.0f} | " for n in names) + "|")
    print("| audio s / s (whole step) | " + " | ".join(
        f"{results[n]['audio_s'] / results[n]['step_ms'] * 1000:.1f} | " for n in names) + "|")
    base = results[names[0]]["step_ms"]
    summary = ", ".join(f"{n} {results[n]['step_ms']:.0f} ms ({results[n]['step_ms'] / base:.2f}x)" for n in names)
    print(f"summary: training step ({args.clock} clock) at batch {first['shape']} float32 CPU {args.threads} threads: "
          f"{summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
