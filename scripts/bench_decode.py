#!/usr/bin/env python3
"""Benchmark HENT-SRT decoding speed on CPU: real-time factor RTF = decode compute seconds / audio seconds.

Measured, for a batch of 8 utterances x 10 s (random 80-dim features, or the first cuts of ``--cuts``), with
``torch.set_num_threads(--threads)`` (default 2), float32, one timed run after a warm-up (encoders: at the
timed shape; streaming: one short utterance):

- offline: the full-context model's encoders through :class:`~hent_srt.decode.runtimes.ModelRuntime` (both
  encoders and the joiners' encoder projections; one forward serves both heads) and, per head (ASR, ST),
  :func:`~hent_srt.search.greedy.greedy_search` (1 symbol per frame) and
  :func:`~hent_srt.search.beam.modified_beam_search` with beam 4 and 20. A row's wall time is the encoder
  time plus that head's search time;
- streaming: :class:`~hent_srt.decode.streaming.StreamingDecoder` greedy decoding of both heads at once on the
  causal model, chunk 32 and 64 frames at 50 Hz (both encoders), left context 128, up to 20 ST symbols per
  frame (the published setting), features arriving one chunk of audio at a time for all 8 streams together;
  ``streaming_greedy_ts`` rows run the same decoder on the streaming TorchScript export
  (:mod:`hent_srt.export.streaming`, that chunking baked in), and the summary says whether their tokens agree;
- ONNX: the offline model exported with :func:`hent_srt.export.offline.export_onnx` and run by
  :class:`~hent_srt.decode.runtimes.OnnxRuntime` (``--threads`` intra-op threads) against PyTorch
  encode + greedy search of both heads, both through :func:`~hent_srt.decode.runtimes.greedy_decode`; the
  summary says whether their hypotheses agree. The ONNX row's enc_s is a separate encoder-only run (the wall
  time is one ``greedy_decode`` call).

- sherpa-onnx: the model exported with :mod:`hent_srt.export.sherpa_onnx` (one transducer per head; the causal
  model also as streaming zipformer2s at each chunk size) and decoded from audio by sherpa-onnx's own
  recognizers (:mod:`hent_srt.decode.sherpa`: greedy search, one symbol per frame, its own fbank) with
  ``--sherpa-threads`` threads, one row per head: the waveforms are the recordings of ``--cuts`` or, without
  ``--cuts``, random noise (then every other row reads the fbank of that noise, not random features). A ``fbank``
  row times kaldi-native-fbank on the same audio (what sherpa-onnx computes inside its rows and hent-srt's rows
  are given), and the summary says whether sherpa-onnx's tokens equal PyTorch greedy search at one symbol per
  frame on those features, and compares the CPU time of sherpa-onnx's two heads with hent-srt's fastest
  two-head row at ``--threads`` threads.

Every row reports wall seconds and process CPU seconds (all threads) and both real-time factors.

Model sizes: ``tiny`` (recipes/tiny.yaml, causal twin recipes/tiny_streaming.yaml) and ``published``
(recipes/hent_srt.yaml, causal twin recipes/hent_srt_streaming.yaml), with vocabularies ``--vocab-sizes``
(default 500,500). ``--tiny-checkpoint PATH`` (state dict under "model"; config ``--tiny-config`` or
``config.yaml`` beside the checkpoint) replaces the tiny model of its kind (causal encoders: the streaming rows;
otherwise the offline and ONNX rows), decoded with its config's blank penalties.

Random weights. A random transducer emits an arbitrary number of tokens per frame, and the search cost depends
on it, so each random model gets a blank penalty per head (subtracted from the blank logit) found by bisection
so that greedy search (with that row family's symbols per frame) on two of the utterances emits one token per
``--frames-per-token`` encoder frames (default 3.5); beam search uses the greedy penalty. Every row reports
the emitted tokens per second of audio (best hypothesis for beam search), so the emission rate is visible.

    python scripts/bench_decode.py [--quick] [--models tiny,published] [--parts offline,streaming,onnx,sherpa]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from hent_srt.config import Config, load_config
from hent_srt.decode.runtimes import ModelRuntime, greedy_decode
from hent_srt.decode.streaming import StreamingDecoder
from hent_srt.model.hent import HentSrt, build_model
from hent_srt.search.beam import modified_beam_search
from hent_srt.search.greedy import greedy_search
from hent_srt.search.step import start_contexts

PRESETS = {"tiny": ("tiny", "tiny_streaming"), "published": ("hent_srt", "hent_srt_streaming")}
PARTS = ("offline", "streaming", "onnx", "sherpa")
FRAME_SHIFT = 0.01  # seconds per feature frame
WARMUP_FRAMES = 300


@dataclass
class Row:
    """One line of the table; ``enc_s``/``search_s`` are None where they cannot be separated."""

    model: str
    params_m: float
    method: str
    head: str
    setting: str
    dtype: str
    device: str
    threads: int
    audio_s: float
    enc_s: float | None
    search_s: float | None
    wall_s: float
    cpu_s: float
    tokens: dict[str, int]

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s

    @property
    def cpu_rtf(self) -> float:
        return self.cpu_s / self.audio_s

    def tokens_per_s(self) -> str:
        return "+".join(f"{n / self.audio_s:.1f}" for n in self.tokens.values())


@dataclass
class Bench:
    """A model ready to decode: its config, module, label and blank penalties per head."""

    label: str
    config: Config
    model: HentSrt
    penalties: dict[str, float]

    @property
    def params_m(self) -> float:
        return sum(p.numel() for p in self.model.parameters()) / 1e6


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny,published", help="comma list of: tiny, published")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of: {', '.join(PARTS)}")
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime intra-op threads")
    parser.add_argument("--batch", type=int, default=None, help="utterances (default 8; --quick 2)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per random utterance (default 10; --quick 4)")
    parser.add_argument("--quick", action="store_true", help="2 utterances x 4 s")
    parser.add_argument("--beams", default="4,20", help="comma list of beam sizes for modified beam search")
    parser.add_argument("--chunks", default="32,64", help="comma list of streaming chunk sizes (frames at 50 Hz)")
    parser.add_argument("--left-context", type=int, default=128, help="streaming left context (frames at 50 Hz)")
    parser.add_argument("--max-sym-st", type=int, default=20, help="streaming ST symbols per frame (published 20)")
    parser.add_argument("--vocab-sizes", default="500,500", help="ASR,ST vocabulary sizes of the random models")
    parser.add_argument("--frames-per-token", type=float, default=3.5,
                        help="emission rate the random models' blank penalties are tuned to")
    parser.add_argument("--int8", action="store_true", help="also time int8 dynamically quantised ONNX graphs")
    parser.add_argument("--sherpa-threads", default="1,2", help="comma list of sherpa-onnx thread counts")
    parser.add_argument("--cuts", type=Path, default=None, help="lhotse manifest of fbank cuts to use as input")
    parser.add_argument("--tiny-checkpoint", type=Path, default=None, help="trained tiny checkpoint (key 'model')")
    parser.add_argument("--tiny-config", type=Path, default=None, help="its config (default: config.yaml beside it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.models = _choices("--models", args.models, tuple(PRESETS))
    args.parts = _choices("--parts", args.parts, PARTS)
    args.beams = _ints("--beams", args.beams)
    args.chunks = _ints("--chunks", args.chunks)
    args.vocab_sizes = _ints("--vocab-sizes", args.vocab_sizes)
    args.sherpa_threads = _ints("--sherpa-threads", args.sherpa_threads)
    if len(args.vocab_sizes) != 2:
        parser.error("--vocab-sizes takes two values: ASR,ST")
    args.batch = args.batch or (2 if args.quick else 8)
    args.seconds = args.seconds or (4.0 if args.quick else 10.0)
    if args.threads < 1 or args.batch < 1 or args.seconds < 1 or args.frames_per_token <= 1 or args.max_sym_st < 1:
        parser.error("--threads, --batch, --max-sym-st must be >= 1, --seconds >= 1 and --frames-per-token > 1")
    if args.tiny_config is not None and args.tiny_checkpoint is None:
        parser.error("--tiny-config needs --tiny-checkpoint")
    return args


def _choices(flag: str, value: str, allowed: tuple[str, ...]) -> list[str]:
    items = [v for v in value.split(",") if v]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise SystemExit(f"{flag}: {bad or value!r} not among {', '.join(allowed)}")
    return items


def _ints(flag: str, value: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v]
    except ValueError:
        items = []
    if not items or min(items) < 1:
        raise SystemExit(f"{flag}: expected a comma list of integers >= 1, got {value!r}")
    return items


# ---------------------------------------------------------------------------------------------------------
# models and inputs


def random_model(preset: str, vocab: list[int], seed: int) -> tuple[Config, HentSrt]:
    config = load_config(preset, [f"model.asr_vocab_size={vocab[0]}", f"model.st_vocab_size={vocab[1]}"])
    torch.manual_seed(seed)
    return config, build_model(config.model, config.loss).eval()


def trained_model(checkpoint: Path, config_path: Path | None) -> tuple[Config, HentSrt]:
    config_path = config_path or checkpoint.parent / "config.yaml"
    if not checkpoint.is_file() or not config_path.is_file():
        raise SystemExit(f"--tiny-checkpoint {checkpoint} / config {config_path}: file not found")
    config = load_config(config_path)
    model = build_model(config.model, config.loss)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return config, model.eval()


def is_causal(config: Config) -> bool:
    return config.model.asr_encoder.causal


@dataclass
class Inputs:
    """What every row decodes: features (B, T, 80), lengths (B,) int64, total audio seconds, a description, and
    the 16 kHz waveforms (None without audio: no sherpa-onnx rows)."""

    x: torch.Tensor
    x_lens: torch.Tensor
    audio: float
    description: str
    waveforms: list | None


def load_inputs(args: argparse.Namespace) -> Inputs:
    """Random features, or with the sherpa part the fbank of random noise (module docstring), or ``--cuts``."""
    if args.cuts is None:
        frames = int(round(args.seconds / FRAME_SHIFT))
        if "sherpa" in args.parts:
            import numpy as np

            from hent_srt.decode.sherpa import SAMPLE_RATE, fbank
            from hent_srt.export.verify import pad_features

            rng = np.random.default_rng(args.seed)
            waveforms = [(0.1 * rng.standard_normal(int(args.seconds * SAMPLE_RATE))).astype(np.float32)
                         for _ in range(args.batch)]
            x, x_lens = pad_features([fbank(w) for w in waveforms])
            return Inputs(x, x_lens, float(x_lens.sum()) * FRAME_SHIFT,
                          f"fbank of random noise {args.batch} x {args.seconds:g} s", waveforms)
        generator = torch.Generator().manual_seed(args.seed)
        x = torch.randn(args.batch, frames, 80, generator=generator)
        x_lens = torch.full((args.batch,), frames, dtype=torch.int64)
        return Inputs(x, x_lens, args.batch * frames * FRAME_SHIFT,
                      f"random features {args.batch} x {args.seconds:g} s", None)
    from hent_srt.export.verify import cut_features, cut_waveforms, load_cuts

    try:
        cuts = load_cuts(args.cuts, args.batch)
    except ValueError as err:
        raise SystemExit(f"--cuts: {err}") from None
    x, x_lens = cut_features(cuts)
    audio = float(x_lens.sum()) * FRAME_SHIFT
    waveforms = cut_waveforms(cuts) if "sherpa" in args.parts else None
    if "sherpa" in args.parts and waveforms is None:
        raise SystemExit(f"--cuts {args.cuts}: the cuts have no recordings; sherpa-onnx decodes audio "
                         "(drop sherpa from --parts)")
    return Inputs(x, x_lens, audio, f"{len(x_lens)} cuts of {args.cuts} ({audio:.1f} s)", waveforms)


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """(result, wall seconds, process CPU seconds over all threads) of ``fn()``."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


# ---------------------------------------------------------------------------------------------------------
# emission calibration of random models


def emission_rate(enc: torch.Tensor, lens: torch.Tensor, model: HentSrt, task: str, penalty: float,
                  max_sym: int) -> float:
    """Greedy tokens per encoder frame of ``task`` on projected encoder output (B, T, J) with ``penalty``."""
    hyps = greedy_search(model.heads[task], enc, lens, penalty, max_sym)
    return sum(map(len, hyps)) / max(int(lens.sum()), 1)


@torch.no_grad()
def calibrate(enc: torch.Tensor, lens: torch.Tensor, model: HentSrt, task: str, max_sym: int,
              frames_per_token: float) -> float:
    """Blank penalty p with greedy emission ~ 1 / frames_per_token tokens per frame, by bisection on p, on
    projected encoder output (B, T, J).

    Start bracket: the gap g = logit_blank - max non-blank logit at the start context over all frames; greedy
    emits at a frame iff g < p, so p = min(g) - 1 emits (almost) nothing and p = max(g) + 1 emits everywhere."""
    head = model.heads[task]
    blank = head.blank_id
    dec = head.predict(start_contexts(1, head.context_size, blank))
    frames = torch.cat([enc[b, : lens[b]] for b in range(enc.size(0))])
    logits = head.join(frames, dec.expand(frames.size(0), -1))
    gap = logits[:, blank] - torch.cat([logits[:, :blank], logits[:, blank + 1 :]], dim=1).max(dim=1).values
    low, high = float(gap.min()) - 1.0, float(gap.max()) + 1.0
    target = 1.0 / frames_per_token
    for _ in range(8):
        if emission_rate(enc, lens, model, task, high, max_sym) >= target:
            break
        high += high - low
    for _ in range(14):
        middle = 0.5 * (low + high)
        if emission_rate(enc, lens, model, task, middle, max_sym) < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@torch.no_grad()
def spread_frames(enc: torch.Tensor, lens: torch.Tensor, model: HentSrt, task: str) -> None:
    """Make a random joiner's decisions depend on the frame: the output of a random Zipformer2 barely varies
    over frames, so greedy emission jumps from no frame to every frame within a tiny penalty range. The joiner's
    ``encoder_proj`` (W, b) is centred on the mean frame and scaled to unit spread across frames:
    W' = W / s, b' = -W' mean(frames), s = std over frames of W frame (mean over dimensions)."""
    proj = model.heads[task].joiner.encoder_proj
    frames = torch.cat([enc[b, : lens[b]] for b in range(enc.size(0))])
    spread = float((frames @ proj.weight.T).std(dim=0).mean())
    proj.weight.div_(max(spread, 1e-6))
    proj.bias.copy_(-(proj.weight @ frames.mean(dim=0)))


def calibrate_all(model: HentSrt, x: torch.Tensor, x_lens: torch.Tensor, max_sym: dict[str, int],
                  frames_per_token: float, chunking: dict[str, int]) -> dict[str, float]:
    """Penalty per head on the first two utterances (``chunking``: simulated streaming for a causal model)."""
    with torch.no_grad():
        encoded = model.encode(x[:2], x_lens[:2], **chunking)
    for task in model.cfg.tasks:
        spread_frames(encoded[task].out, encoded[task].lens, model, task)
    with torch.no_grad():
        projected = {t: model.heads[t].project_encoder(encoded[t].out) for t in model.cfg.tasks}
    return {t: calibrate(projected[t], encoded[t].lens, model, t, max_sym[t], frames_per_token)
            for t in model.cfg.tasks}


# ---------------------------------------------------------------------------------------------------------
# benchmarks


def bench_offline(bench: Bench, x: torch.Tensor, x_lens: torch.Tensor, audio: float, threads: int,
                  beams: list[int]) -> list[Row]:
    model = bench.model
    runtime = ModelRuntime(model)
    runtime.encode(x, x_lens)  # warm-up at the timed shape: the first call allocates
    encoded, enc_s, enc_cpu = timed(lambda: runtime.encode(x, x_lens))
    rows = []
    for task in model.cfg.tasks:
        head, (enc, lens), penalty = model.heads[task], encoded[task], bench.penalties[task]
        searches = [("greedy", "-", lambda head=head, enc=enc, lens=lens, penalty=penalty: greedy_search(
            head, enc, lens, penalty, 1))]
        for beam in beams:
            searches.append(("modified_beam", f"beam {beam}",
                             lambda head=head, enc=enc, lens=lens, penalty=penalty, beam=beam:
                             modified_beam_search(head, enc, lens, beam, penalty)))
        for method, setting, search in searches:
            hyps, search_s, search_cpu = timed(search)
            rows.append(Row(bench.label, bench.params_m, method, task, setting, "float32", "cpu", threads, audio,
                            enc_s, search_s, enc_s + search_s, enc_cpu + search_cpu, {task: sum(map(len, hyps))}))
    return rows


def bench_streaming(bench: Bench, x: torch.Tensor, x_lens: torch.Tensor, audio: float, threads: int,
                    chunks: list[int], left_context: int, max_sym_st: int, notes: list[str]) -> list[Row]:
    """PyTorch streaming decoding and the same with the streaming TorchScript export (``_ts`` rows; agreement of
    their tokens appended to ``notes``) per chunk size."""
    from hent_srt.decode.runtimes import load_streaming_torchscript
    from hent_srt.export.metadata import export_metadata
    from hent_srt.export.streaming import export_streaming_torchscript

    features = [x[b, : x_lens[b]] for b in range(x.size(0))]
    rows = []
    for chunk in chunks:
        decoder = StreamingDecoder(bench.model, chunk, left_context, chunk, left_context,
                                   blank_penalty_asr=bench.penalties["asr"],
                                   blank_penalties_st=(bench.penalties["st"],),
                                   max_sym_per_frame_asr=1, max_sym_per_frame_st=max_sym_st)
        decoder.decode_features([features[0][:WARMUP_FRAMES]])
        streams, wall, cpu = timed(lambda decoder=decoder: decoder.decode_features(features))
        tokens = {t: sum(len(s.tokens(t)) for s in streams) for t in bench.model.cfg.tasks}
        rows.append(Row(bench.label, bench.params_m, "streaming_greedy", "asr+st", f"chunk {chunk}/L{left_context}",
                        "float32", "cpu", threads, audio, None, None, wall, cpu, tokens))
        with tempfile.TemporaryDirectory(prefix="bench_decode_ts_") as tmp:
            path = export_streaming_torchscript(decoder.graphs, export_metadata(bench.config, bench.model),
                                                Path(tmp) / "model-streaming.pt")
            scripted = StreamingDecoder(load_streaming_torchscript(path), blank_penalty_asr=bench.penalties["asr"],
                                        blank_penalties_st=(bench.penalties["st"],), max_sym_per_frame_asr=1,
                                        max_sym_per_frame_st=max_sym_st)
        scripted.decode_features([features[0][:WARMUP_FRAMES]])
        scripted_streams, wall, cpu = timed(lambda scripted=scripted: scripted.decode_features(features))
        same = sum(a.tokens(t) == b.tokens(t) for a, b in zip(streams, scripted_streams) for t in bench.model.cfg.tasks)
        notes.append(f"{bench.label}: torchscript streaming chunk {chunk} gives the PyTorch tokens on {same}/"
                     f"{len(streams) * len(bench.model.cfg.tasks)} head-utterance pairs")
        tokens = {t: sum(len(s.tokens(t)) for s in scripted_streams) for t in bench.model.cfg.tasks}
        rows.append(Row(bench.label, bench.params_m, "streaming_greedy_ts", "asr+st", f"chunk {chunk}/L{left_context}",
                        "float32", "cpu", threads, audio, None, None, wall, cpu, tokens))
    return rows


def bench_onnx(bench: Bench, x: torch.Tensor, x_lens: torch.Tensor, audio: float, threads: int,
               int8: bool) -> tuple[list[Row], str]:
    """PyTorch vs TorchScript and onnxruntime greedy search of both heads; returns the rows and a note for the
    summary."""
    from hent_srt.decode.runtimes import OnnxRuntime, TorchScriptRuntime
    from hent_srt.export.metadata import export_metadata
    from hent_srt.export.offline import export_onnx, export_torchscript, quantize_int8

    model, tasks = bench.model, bench.model.cfg.tasks
    runtime = ModelRuntime(model)

    def pytorch() -> tuple[dict[str, list[list[int]]], float, float, float]:
        encoded, enc_s, enc_cpu = timed(lambda: runtime.encode(x, x_lens))
        hyps, search_s, search_cpu = timed(lambda: {t: greedy_search(runtime.step(t), *encoded[t], bench.penalties[t], 1)
                                                    for t in tasks})
        return hyps, enc_s, search_s, enc_cpu + search_cpu

    runtime.encode(x, x_lens)  # warm-up at the timed shape
    pytorch_hyps, enc_s, search_s, cpu = pytorch()
    rows = [Row(bench.label, bench.params_m, "pytorch_greedy", "+".join(tasks), "-", "float32", "cpu", threads,
                audio, enc_s, search_s, enc_s + search_s, cpu, {t: sum(map(len, h)) for t, h in pytorch_hyps.items()})]
    notes = []
    with tempfile.TemporaryDirectory(prefix="bench_decode_onnx_") as tmp:
        scripted = TorchScriptRuntime(export_torchscript(model, export_metadata(bench.config, model),
                                                         Path(tmp) / "model.pt"))
        with torch.jit.optimized_execution(False):
            greedy_decode(scripted, x, x_lens, bench.penalties)  # warm-up at the timed shape
            hyps, wall, cpu = timed(lambda: greedy_decode(scripted, x, x_lens, bench.penalties))
        rows.append(Row(bench.label, bench.params_m, "torchscript_greedy", "+".join(tasks), "-", "float32", "cpu",
                        threads, audio, None, None, wall, cpu, {t: sum(map(len, h)) for t, h in hyps.items()}))
        same = sum(hyps[t][b] == pytorch_hyps[t][b] for t in tasks for b in range(len(x)))
        notes.append(f"torchscript hyps==pytorch {same}/{len(tasks) * len(x)}")
        paths, export_s, _ = timed(lambda: export_onnx(model, export_metadata(bench.config, model), tmp))
        variants = [("float32", False)]
        if int8:
            quantize_int8(paths)
            variants.append(("int8", True))
        for dtype, quantised in variants:
            decoder = OnnxRuntime(tmp, int8=quantised, num_threads=threads)
            greedy_decode(decoder, x[:1, :WARMUP_FRAMES], x_lens[:1].clip(max=WARMUP_FRAMES), bench.penalties)
            decoder.encode(x, x_lens)  # warm-up at the timed shape
            _, onnx_enc_s, _ = timed(lambda decoder=decoder: decoder.encode(x, x_lens))
            hyps, wall, cpu = timed(lambda decoder=decoder: greedy_decode(decoder, x, x_lens, bench.penalties))
            rows.append(Row(bench.label, bench.params_m, "onnx_greedy", "+".join(tasks), "-", dtype, "cpu", threads,
                            audio, onnx_enc_s, None, wall, cpu, {t: sum(map(len, h)) for t, h in hyps.items()}))
            same = sum(hyps[t][b] == pytorch_hyps[t][b] for t in tasks for b in range(len(x)))
            notes.append(f"{dtype} hyps==pytorch {same}/{len(tasks) * len(x)}")
    speedup = rows[0].wall_s / rows[2].wall_s
    return rows, f"{bench.label}: onnx {speedup:.2f}x pytorch speed ({', '.join(notes)}; export {export_s:.0f} s)"


def export_tokens(bench: Bench, metadata: dict[str, str], out_dir: Path) -> None:
    """Token files of the export: the config's tokenizers, or for a random model ``<blk>`` and one name per id."""
    from hent_srt.export.offline import write_tokens

    if bench.config.data.src_bpe_model and bench.config.data.tgt_bpe_model:
        write_tokens(bench.config, metadata, out_dir)
        return
    for task in bench.model.cfg.tasks:
        metadata[f"tokens_{task}"] = f"tokens-{task}.txt"
        vocab = bench.model.heads[task].vocab_size
        (out_dir / metadata[f"tokens_{task}"]).write_text("<blk> 0\n" + "".join(f"t{i} {i}\n" for i in range(1, vocab)),
                                                          encoding="utf-8")


def bench_sherpa(bench: Bench, inputs: Inputs, threads: list[int], chunks: list[int] | None, left_context: int,
                 notes: list[str]) -> list[Row]:
    """sherpa-onnx rows (module docstring): offline (``chunks`` None) or streaming at each chunk size, one row per
    head and thread count; appends the agreement of sherpa-onnx's offline tokens to ``notes``."""
    from hent_srt.decode.sherpa import SherpaOfflineRunner, SherpaOnlineRunner, sherpa_dir
    from hent_srt.decode.streaming import ModelGraphs
    from hent_srt.export.metadata import export_metadata
    from hent_srt.export.offline import MIN_OPSET
    from hent_srt.export.sherpa_onnx import export_sherpa_onnx, export_sherpa_onnx_streaming

    model, waveforms = bench.model, inputs.waveforms
    warmup = [waveforms[0][: WARMUP_FRAMES * 160]]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_decode_sherpa_") as tmp:
        metadata = export_metadata(bench.config, model)
        export_tokens(bench, metadata, Path(tmp))
        settings: list[tuple[str, Path | None]] = []
        if chunks is None:
            export_sherpa_onnx(model, metadata, tmp, MIN_OPSET)
            settings.append(("-", None))
        for chunk in chunks or []:
            export_dir = Path(tmp) / f"chunk{chunk}"
            export_dir.mkdir()
            export_tokens(bench, metadata, export_dir)
            graphs = ModelGraphs(model, chunk, left_context, chunk, left_context)
            export_sherpa_onnx_streaming(graphs, metadata, export_dir, MIN_OPSET)
            settings.append((f"chunk {chunk}/L{left_context}", export_dir))
        reference = sherpa_reference(bench, inputs)
        for setting, export_dir in settings:
            for task in model.cfg.tasks:
                for n in threads:
                    if export_dir is None:
                        runner = SherpaOfflineRunner(sherpa_dir(tmp, task), num_threads=n,
                                                     blank_penalty=bench.penalties[task])
                        decode = partial(runner.decode, waveforms, batch_size=len(waveforms))
                    else:
                        runner = SherpaOnlineRunner(sherpa_dir(export_dir, task, streaming=True), num_threads=n,
                                                    blank_penalty=bench.penalties[task])
                        decode = partial(runner.decode, waveforms)
                    runner.decode(warmup)
                    hyps, wall, cpu = timed(decode)
                    method = "sherpa_offline" if export_dir is None else "sherpa_streaming"
                    rows.append(Row(bench.label, bench.params_m, method, task, setting, "float32", "cpu", n,
                                    inputs.audio, None, None, wall, cpu, {task: sum(map(len, hyps))}))
                    if export_dir is None and n == threads[0]:
                        same = sum(a == b for a, b in zip(hyps, reference[task]))
                        notes.append(f"{bench.label}: sherpa-onnx {task} tokens == pytorch greedy (1 symbol/frame, "
                                     f"the same fbank) on {same}/{len(hyps)}")
    return rows


def sherpa_reference(bench: Bench, inputs: Inputs) -> dict[str, list[list[int]]]:
    """PyTorch greedy search at one symbol per frame on the features sherpa-onnx computes from the waveforms."""
    from hent_srt.decode.sherpa import fbank
    from hent_srt.export.verify import pad_features

    x, x_lens = pad_features([fbank(w) for w in inputs.waveforms])
    return greedy_decode(ModelRuntime(bench.model), x, x_lens, bench.penalties)


def bench_fbank(inputs: Inputs) -> Row:
    """kaldi-native-fbank on the waveforms: the feature cost inside every sherpa-onnx row."""
    from hent_srt.decode.sherpa import fbank

    _, wall, cpu = timed(lambda: [fbank(w) for w in inputs.waveforms])
    return Row("-", 0.0, "fbank", "-", "kaldi-native-fbank", "float32", "cpu", 1, inputs.audio, None, None, wall, cpu,
               {})


# ---------------------------------------------------------------------------------------------------------
# driver


def prepare(size: str, causal: bool, args: argparse.Namespace, x: torch.Tensor, x_lens: torch.Tensor) -> Bench:
    preset = PRESETS[size][int(causal)]
    trained = args.tiny_checkpoint is not None and size == "tiny"
    config = None
    if trained:
        config, model = trained_model(args.tiny_checkpoint, args.tiny_config)
        if is_causal(config) != causal:
            config = None
    if config is not None:
        penalties = {t: getattr(config.decode, f"blank_penalty_{t}") for t in config.model.tasks}
        return Bench(f"{size}{'-causal' if causal else ''}(trained)", config, model, penalties)
    config, model = random_model(preset, args.vocab_sizes, args.seed)
    if causal:
        chunking = {"chunk_size": max(args.chunks), "left_context_frames": args.left_context,
                    "st_chunk_size": max(args.chunks), "st_left_context_frames": args.left_context}
        max_sym = {"asr": 1, "st": args.max_sym_st}
    else:
        chunking, max_sym = {}, {t: 1 for t in config.model.tasks}
    penalties = calibrate_all(model, x, x_lens, max_sym, args.frames_per_token, chunking)
    with torch.no_grad():
        for task, value in penalties.items():
            # sherpa-onnx applies only positive penalties: a negative one moves into the blank bias (same decisions)
            if value < 0:
                model.heads[task].joiner.output_linear.bias[model.heads[task].blank_id] -= value
                penalties[task] = 0.0
            setattr(config.decode, f"blank_penalty_{task}", penalties[task])
    return Bench(f"{size}{'-causal' if causal else ''}(random)", config, model, penalties)


def print_table(rows: list[Row]) -> None:
    header = ["model", "params_M", "method", "head", "beam/chunk", "dtype", "device", "threads", "audio_s",
              "enc_s", "search_s", "wall_s", "cpu_s", "RTF", "CPU_RTF", "tokens/s"]
    lines = [[r.model, f"{r.params_m:.1f}", r.method, r.head, r.setting, r.dtype, r.device, str(r.threads),
              f"{r.audio_s:.0f}", "-" if r.enc_s is None else f"{r.enc_s:.2f}",
              "-" if r.search_s is None else f"{r.search_s:.2f}", f"{r.wall_s:.2f}", f"{r.cpu_s:.2f}", f"{r.rtf:.4f}",
              f"{r.cpu_rtf:.4f}", r.tokens_per_s()] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    for line in [header, *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    inputs = load_inputs(args)
    x, x_lens, audio = inputs.x, inputs.x_lens, inputs.audio
    print(f"# input: {inputs.description}; torch {torch.__version__}, {args.threads} threads; RTF = wall_s / "
          f"audio_s, CPU_RTF = cpu_s / audio_s (process CPU time, all threads); tokens/s per head (asr+st) per second "
          f"of audio", flush=True)
    rows: list[Row] = []
    notes: list[str] = []
    started = time.perf_counter()
    if "sherpa" in args.parts:
        rows.append(bench_fbank(inputs))
    for size in args.models:
        if {"offline", "onnx", "sherpa"} & set(args.parts):
            bench = prepare(size, False, args, x, x_lens)
            print(f"# {bench.label}: blank penalties {_fmt(bench.penalties)}", flush=True)
            if "offline" in args.parts:
                rows += bench_offline(bench, x, x_lens, audio, args.threads, args.beams)
            if "onnx" in args.parts:
                onnx_rows, note = bench_onnx(bench, x, x_lens, audio, args.threads, args.int8)
                rows += onnx_rows
                notes.append(note)
            if "sherpa" in args.parts:
                rows += bench_sherpa(bench, inputs, args.sherpa_threads, None, args.left_context, notes)
        if {"streaming", "sherpa"} & set(args.parts):
            bench = prepare(size, True, args, x, x_lens)
            print(f"# {bench.label}: blank penalties {_fmt(bench.penalties)}", flush=True)
            if "streaming" in args.parts:
                rows += bench_streaming(bench, x, x_lens, audio, args.threads, args.chunks, args.left_context,
                                        args.max_sym_st, notes)
            if "sherpa" in args.parts:
                rows += bench_sherpa(bench, inputs, args.sherpa_threads, args.chunks, args.left_context, notes)
    print_table(rows)
    notes += sherpa_targets(rows, args.threads)
    print(f"summary: {summarise(rows)}; {'; '.join(notes) or 'no onnx'}; "
          f"total {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def _fmt(penalties: dict[str, float]) -> str:
    return ", ".join(f"{t}={v:.3f}" for t, v in penalties.items())


def sherpa_targets(rows: list[Row], threads: int) -> list[str]:
    """Per model and setting: CPU seconds of hent-srt's fastest two-head row at ``threads`` threads against
    sherpa-onnx's two heads at the same thread count (whose CPU time includes its fbank)."""
    two_head = {"": ("pytorch_greedy", "torchscript_greedy", "onnx_greedy"),
                "streaming": ("streaming_greedy", "streaming_greedy_ts")}
    fbank = next((r.cpu_s for r in rows if r.method == "fbank"), None)
    out = []
    for model in dict.fromkeys(r.model for r in rows if r.method.startswith("sherpa")):
        for setting in dict.fromkeys(r.setting for r in rows if r.model == model and r.method.startswith("sherpa")):
            sherpa = [r for r in rows if r.model == model and r.setting == setting and r.threads == threads
                      and r.method.startswith("sherpa")]
            streaming = sherpa[0].method == "sherpa_streaming" if sherpa else False
            ours = [r for r in rows if r.model == model and r.method in two_head["streaming" if streaming else ""]
                    and r.threads == threads and r.dtype == "float32" and (not streaming or r.setting == setting)]
            if len(sherpa) < 2 or not ours:
                continue
            best = min(ours, key=lambda r: r.cpu_s)
            theirs = sum(r.cpu_s for r in sherpa)
            verdict = "less" if best.cpu_s + (fbank or 0.0) < theirs else "not less"
            out.append(f"{model} {setting}: hent-srt {best.method} both heads {best.cpu_s:.2f} CPU s"
                       f"{f' (+ fbank {fbank:.2f})' if fbank is not None else ''} vs sherpa-onnx asr + st "
                       f"{theirs:.2f} CPU s at {threads} thread(s): {verdict}")
    return out


def summarise(rows: list[Row]) -> str:
    """Worst and best RTF per model (the fbank row is no model)."""
    parts = []
    for model in dict.fromkeys(r.model for r in rows if r.method != "fbank"):
        mine = [r for r in rows if r.model == model]
        best = min(mine, key=lambda r: r.rtf)
        worst = max(mine, key=lambda r: r.rtf)
        parts.append(f"{model} RTF {best.rtf:.3f} ({best.method} {best.head} {best.setting}) .. {worst.rtf:.3f} "
                     f"({worst.method} {worst.head} {worst.setting})")
    return "; ".join(parts) if parts else "no rows"


if __name__ == "__main__":
    sys.exit(main())
