#!/usr/bin/env python3
"""Benchmark the data layer on this machine's CPUs.

Measures: fbank extraction speed (x real time) for 16 kHz audio, 8 kHz audio resampled to 16 kHz, and
with speed perturbation; loader throughput (batches/s and seconds of audio/s) with 0 and 1 worker
processes; and synthetic-corpus generation (utterances/s) when ``hent_srt.data.corpora.synth`` exists.
The audio is generated here (tones + noise). Prints a table and one summary line.

    python scripts/bench_data.py [--num-utts 60] [--threads 2] [--synth-args "--pair es-en ..."]
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from lhotse import CutSet, Recording

from hent_srt.data.features import compute_features
from hent_srt.data.loader import make_dataloader
from hent_srt.data.schema import make_supervision
from hent_srt.data.tokenizer import train_bpe

TEXTS = [
    ("la casa de mi hermano es grande", "my brother's house is big"),
    ("el perro negro come pan", "the black dog eats bread"),
    ("ella me lo dio ayer por la tarde", "she gave it to me yesterday afternoon"),
]


def make_corpus(root: Path, num: int, rate: int, seed: int = 0) -> tuple[Path, float]:
    """``num`` utterances of 2-5 s at ``rate`` Hz; returns (manifest path, total seconds)."""
    rng = np.random.default_rng(seed)
    audio = root / f"audio{rate}"
    audio.mkdir(parents=True, exist_ok=True)
    cuts = []
    for i in range(num):
        dur = round(float(rng.uniform(2.0, 5.0)), 2)
        t = np.arange(round(dur * rate)) / rate
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 3000) * t) + 0.01 * rng.standard_normal(t.shape)
        path = audio / f"u{i:04d}.flac"
        sf.write(path, wave.astype(np.float32), rate)
        rec = Recording.from_file(path, recording_id=f"r{rate}_{i:04d}")
        cut = rec.to_cut()
        src, tgt = TEXTS[i % len(TEXTS)]
        cut.supervisions = [make_supervision(cut.id, rec.id, 0.0, rec.duration, 0, src, "es", tgt)]
        cuts.append(cut)
    manifest = root / f"raw{rate}.jsonl.gz"
    cuts = CutSet.from_cuts(cuts)
    cuts.to_file(manifest)
    return manifest, sum(c.duration for c in cuts)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_synth(args: argparse.Namespace, root: Path) -> tuple[str, float | None]:
    if importlib.util.find_spec("hent_srt.data.corpora.synth") is None:
        return "hent_srt.data.corpora.synth does not exist yet: not measured", None
    if not args.synth_args:
        return "synth exists: pass --synth-args '<its options for a small corpus>' to time it", None
    from hent_srt.data.corpora import synth

    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    out_dir = root / "synth"
    synth_args = parser.parse_args([*shlex.split(args.synth_args), "--out-dir", str(out_dir)])
    rc, wall = timed(lambda: synth.main(synth_args))
    if rc != 0:
        return f"synth main returned {rc}", None
    files = sorted(out_dir.rglob("*supervisions*.jsonl.gz")) or sorted(out_dir.rglob("*cuts*.jsonl.gz"))
    count = sum(len(CutSet.from_file(f)) if "cuts" in f.name else _count_lines(f) for f in files)
    return f"{count} utterances in {wall:.1f} s", count / wall


def _count_lines(path: Path) -> int:
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-utts", type=int, default=60, help="utterances per generated corpus")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--max-duration", type=float, default=30.0, help="loader batch size in seconds")
    parser.add_argument("--synth-args", default="", help="options passed to the synth command (small corpus)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        m16, secs16 = make_corpus(root, args.num_utts, 16000)
        m8, secs8 = make_corpus(root, args.num_utts, 8000, seed=1)
        feats16, wall = timed(lambda: compute_features(m16, root / "fbank", "f16"))
        rows.append(
            (
                "fbank 16 kHz",
                f"{args.num_utts} utts x (T,80)",
                secs16,
                wall,
                f"{secs16 / wall:.0f}x real time",
            )
        )
        _, wall = timed(lambda: compute_features(m8, root / "fbank", "f8"))
        rows.append(
            ("fbank 8k->16k", f"{args.num_utts} utts x (T,80)", secs8, wall, f"{secs8 / wall:.0f}x real time")
        )
        _, wall = timed(lambda: compute_features(m16, root / "fbank", "sp", speed_perturb=True))
        rows.append(
            (
                "fbank + speed 0.9/1.1",
                f"{3 * args.num_utts} utts",
                3 * secs16,
                wall,
                f"{3 * secs16 / wall:.0f}x real time",
            )
        )

        cuts = CutSet.from_file(feats16).to_eager()
        src = train_bpe(cuts, "source", 100, root / "src")
        tgt = train_bpe(cuts, "target", 100, root / "tgt")
        loader_rate = {}
        for workers in (0, 1):
            loader = make_dataloader(cuts, src, tgt, args.max_duration, True, 4, num_workers=workers)
            batches, wall = timed(lambda loader=loader: list(loader))
            frames = sum(int(b.feature_lens.sum()) for b in batches)
            max_b = max(len(b) for b in batches)
            loader_rate[workers] = len(batches) / wall
            rows.append(
                (
                    f"loader, {workers} workers",
                    f"{len(batches)} batches (<={max_b},T,80)",
                    frames / 100,
                    wall,
                    f"{len(batches) / wall:.1f} batches/s, {frames / 100 / wall:.0f} s audio/s",
                )
            )
        synth_note, synth_rate = bench_synth(args, root)
        synth_result = f"{synth_rate:.1f} utts/s" if synth_rate else "not measured"
        rows.append(("synth", "-", float("nan"), float("nan"), synth_result))

    print(f"device cpu, dtype float32, torch threads {threads}")
    header = ("stage", "shape", "audio s", "wall s", "result")
    widths = [24, 44, 8, 8, 34]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for name, shape, audio, wall, result in rows:
        cells = (name, shape, f"{audio:.1f}", f"{wall:.2f}", result)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)))
    print(f"synth: {synth_note}")
    synth_part = f"synth {synth_rate:.1f} utts/s" if synth_rate else "synth not measured"
    print(
        f"summary: fbank {rows[0][2] / rows[0][3]:.0f}x real time (16 kHz), {rows[1][2] / rows[1][3]:.0f}x (8 kHz "
        f"resampled); loader {loader_rate[0]:.1f} batches/s (0 workers), {loader_rate[1]:.1f} (1 worker); "
        f"{synth_part}; cpu, {threads} threads"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
