#!/usr/bin/env python3
"""Benchmark the data layer on this machine's CPUs.

Two modes.

Throughput (default): fbank extraction speed (x real time) for 16 kHz audio, 8 kHz audio resampled to 16 kHz,
and with speed perturbation; loader throughput (batches/s and seconds of audio/s) with 0 and 1 worker
processes, and with the training augmentation (noise mixing p = 0.5 + SpecAugment, 0 workers); and
synthetic-corpus generation (utterances/s) when ``hent_srt.data.corpora.synth`` exists. The audio is generated
here (tones + noise).

Start-up (``--num-cuts N``): the training data path at scale. A manifest of N cuts is generated (durations
1-20 s, transcripts and translations of 3-40 words drawn from a 600-word vocabulary, about 1 % of them too long
for their audio; every cut points at one of 40 real fbank arrays), with BPE models trained on its first 2,000
cuts. A fresh process then runs ``build_components`` of ``hent-srt train`` (the tiny model, published batching:
200 s batches, 30 buckets, no worker processes, so everything counts in one process) and draws the first
training batch; it reports the seconds from the start of ``build_components`` to that batch and the peak
resident memory of the process (``ru_maxrss``). ``--work-dir`` keeps the generated corpus for later runs.

Both print a table and one summary line.

    python scripts/bench_data.py [--num-utts 60] [--threads 2] [--synth-args "--pair es-en ..."]
    nice -n 10 python scripts/bench_data.py --num-cuts 1000000 [--work-dir /tmp/bench_1m]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from lhotse import CutSet, LilcomChunkyWriter, Recording

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


def make_noise(root: Path, num: int = 4, seconds: float = 10.0) -> Path:
    """``num`` noise recordings (white and low-passed) without supervisions; returns their cut manifest."""
    rng = np.random.default_rng(2)
    (root / "noise").mkdir(parents=True, exist_ok=True)
    cuts = []
    for i in range(num):
        wave = rng.standard_normal(round(seconds * 16000))
        if i:
            wave = np.convolve(wave, np.ones(3 * i) / (3 * i), mode="same")
        path = root / "noise" / f"n{i}.flac"
        sf.write(path, (0.1 * wave).astype(np.float32), 16000)
        cuts.append(Recording.from_file(path, recording_id=f"noise{i}").to_cut())
    manifest = root / "noise.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(manifest)
    return manifest


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


# ---------------------------------------------------------------------------------------------------------
# start-up at scale (--num-cuts)

NUM_DURATIONS = 40
TOO_LONG_EVERY = 97  # about 1 % of the cuts carry 40 words on 1 s of audio: they do not fit the model
VALID_CUTS = 1000


def _durations() -> list[float]:
    return [round(1.0 + k * 19.0 / (NUM_DURATIONS - 1), 2) for k in range(NUM_DURATIONS)]


def _template_lines(root: Path) -> list[str]:
    """One JSON template per duration: a cut with fbank features stored in ``root/feats.lca``.

    ``@ID@``, ``@SRC@`` and ``@TGT@`` are filled in per cut."""
    from lhotse import AudioSource, Features, MonoCut

    rng = np.random.default_rng(0)
    lines = []
    with LilcomChunkyWriter(root / "feats.lca") as writer:
        for k, dur in enumerate(_durations()):
            frames = round(dur * 100)
            key = writer.write(f"arr{k}", rng.normal(-5.0, 2.0, size=(frames, 80)).astype(np.float32))
            feats = Features(type="kaldi-fbank", num_frames=frames, num_features=80, frame_shift=0.01,
                             sampling_rate=16000, start=0.0, duration=dur, storage_type="lilcom_chunky",
                             storage_path=str(root / "feats.lca"), storage_key=key, channels=0)
            rec = Recording(id="@ID@", sources=[AudioSource(type="file", channels=[0], source="/corpus/@ID@.flac")],
                            sampling_rate=16000, num_samples=round(dur * 16000), duration=dur)
            cut = MonoCut(id="@ID@", start=0.0, duration=dur, channel=0, features=feats, recording=rec,
                          supervisions=[make_supervision("@ID@", "@ID@", 0.0, dur, 0, "@SRC@", "es", "@TGT@")])
            lines.append(json.dumps(cut.to_dict(), ensure_ascii=False))
    return lines


def write_scaled_manifest(path: Path, root: Path, num_cuts: int, seed: int = 0) -> None:
    """``num_cuts`` cuts (see the module docstring) to ``path`` (.jsonl.gz)."""
    rng = np.random.default_rng(seed)
    words = [f"w{chr(97 + i % 26)}{chr(97 + (i // 26) % 26)}{i % 7}" for i in range(600)]
    templates = _template_lines(root)
    durations = _durations()
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for start in range(0, num_cuts, 10000):
            n = min(10000, num_cuts - start)
            ks = rng.integers(0, NUM_DURATIONS, size=n)
            picks = rng.integers(0, len(words), size=(n, 2, 40))
            for j in range(n):
                i = start + j
                k = 0 if i % TOO_LONG_EVERY == 0 else int(ks[j])
                num_words = 40 if i % TOO_LONG_EVERY == 0 else max(2, min(40, int(1.5 * durations[k])))
                src = " ".join(words[w] for w in picks[j, 0, :num_words])
                tgt = " ".join(words[w] for w in picks[j, 1, :num_words])
                line = templates[k].replace("@ID@", f"c{i:08d}").replace("@SRC@", src).replace("@TGT@", tgt)
                out.write(line + "\n")


def _record(manifest: Path, work: Path) -> None:
    """The record `hent-srt features` writes beside its manifests (when this version of the code has them)."""
    if importlib.util.find_spec("hent_srt.data.manifest") is None:
        return
    from hent_srt.data.features import write_feature_record
    from hent_srt.data.manifest import read_cuts

    write_feature_record(manifest, read_cuts(manifest), work / "feats", {"generated": "bench_data"})


def prepare_scaled(work: Path, num_cuts: int, with_record: bool) -> Path:
    """Generate (once) the corpus, valid set and BPE models under ``work``; returns the config overrides file.

    With ``with_record`` the manifests get the record that ``hent-srt features`` writes beside its outputs, so
    training finds them checked; without, training validates them in one pass first."""
    suffix = "" if with_record else "_norecord"
    overrides = work / f"overrides_{num_cuts}{suffix}.json"
    if overrides.is_file():
        return overrides
    (work / "feats").mkdir(parents=True, exist_ok=True)
    train = work / f"cuts_train_{num_cuts}{suffix}.jsonl.gz"
    valid = work / f"cuts_valid{suffix}.jsonl.gz"
    write_scaled_manifest(train, work / "feats", num_cuts)
    write_scaled_manifest(valid, work / "feats", VALID_CUTS, seed=1)
    if with_record:
        _record(train, work)
        _record(valid, work)
    head = CutSet.from_file(valid).to_eager()
    src = train_bpe(head, "source", 500, work / "bpe_src")
    tgt = train_bpe(head, "target", 500, work / "bpe_tgt")
    settings = [
        f"data.train_cuts={train}", f"data.valid_cuts={valid}", f"data.src_bpe_model={src.model_path}",
        f"data.tgt_bpe_model={tgt.model_path}", f"model.asr_vocab_size={src.vocab_size}",
        f"model.st_vocab_size={tgt.vocab_size}", "data.max_duration=200", "data.num_buckets=30",
        "data.num_workers=0",
    ]
    overrides.write_text(json.dumps(settings))
    return overrides


def startup_child(overrides_path: str) -> int:
    """In a fresh process: build the training components and draw the first batch; print one JSON line."""
    from hent_srt.config import load_config
    from hent_srt.train.distributed import DistInfo
    from hent_srt.train.trainer import build_components

    torch.set_num_threads(1)
    config = load_config("tiny", json.loads(Path(overrides_path).read_text()))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    parts = build_components(config, DistInfo())
    built = time.perf_counter() - start
    batch = next(iter(parts.train_loader))
    first = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"build_s": built, "first_batch_s": first, "peak_rss_mib": rss / 1024,
                      "rss_after_imports_mib": rss_before / 1024, "batch_cuts": len(batch.cut_ids),
                      "batch_frames": list(batch.features.shape)}))
    return 0


def bench_startup(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        gen_start = time.perf_counter()
        overrides = prepare_scaled(work, args.num_cuts, not args.no_record)
        gen = time.perf_counter() - gen_start
        proc = subprocess.run([sys.executable, __file__, "--startup-child", str(overrides)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return proc.returncode
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    print("device cpu, torch threads 1, fbank (T,80) float32 lilcom; tiny model; 200 s batches, 30 buckets, "
          "0 workers")
    record = "without a record (validated in one pass)" if args.no_record else "with the record of hent-srt features"
    print(f"manifest: {args.num_cuts} cuts {record} (generated in {gen:.1f} s; reused if --work-dir held it)")
    header = ("cuts", "build_components s", "first batch s", "peak RSS MiB", "RSS after imports MiB", "batch")
    print("  ".join(h.ljust(22) for h in header))
    cells = (str(args.num_cuts), f"{result['build_s']:.1f}", f"{result['first_batch_s']:.1f}",
             f"{result['peak_rss_mib']:.0f}", f"{result['rss_after_imports_mib']:.0f}",
             f"{result['batch_cuts']} cuts {tuple(result['batch_frames'])}")
    print("  ".join(c.ljust(22) for c in cells))
    print(f"summary: start-up to the first training batch {result['first_batch_s']:.1f} s, peak RSS "
          f"{result['peak_rss_mib']:.0f} MiB at {args.num_cuts} cuts (targets: <= 30 s, <= 1536 MiB); cpu, 1 thread")
    return 0


# ---------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-utts", type=int, default=60, help="utterances per generated corpus")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--max-duration", type=float, default=30.0, help="loader batch size in seconds")
    parser.add_argument("--synth-args", default="", help="options passed to the synth command (small corpus)")
    parser.add_argument("--num-cuts", type=int, default=0,
                        help="start-up mode: time to the first training batch and peak RSS on N generated cuts")
    parser.add_argument("--work-dir", default="", help="start-up mode: keep (and reuse) the generated corpus here")
    parser.add_argument("--no-record", action="store_true",
                        help="start-up mode: manifests without the record of hent-srt features (validated first)")
    parser.add_argument("--startup-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.startup_child:
        return startup_child(args.startup_child)
    if args.num_cuts:
        return bench_startup(args)
    from hent_srt.data.augment import Augmentation, NoiseMixer, spec_augment  # (the start-up mode runs older code)
    from hent_srt.data.manifest import read_cuts

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

        cuts = read_cuts(feats16).to_eager()
        src = train_bpe(cuts, "source", 100, root / "src")
        tgt = train_bpe(cuts, "target", 100, root / "tgt")
        noise = read_cuts(compute_features(make_noise(root), root / "fbank", "musan")).to_eager()
        augmentation = Augmentation(noise=NoiseMixer(noise), spec_augment=spec_augment())
        loader_rate, batch_ms = {}, {}
        for name, workers, aug in (("loader", 0, None), ("loader", 1, None),
                                   ("loader + MUSAN + SpecAug", 0, augmentation)):
            loader = make_dataloader(cuts, src, tgt, args.max_duration, True, 4, num_workers=workers,
                                     augmentation=aug)
            batches, wall = timed(lambda loader=loader: list(loader))
            frames = sum(int(b.feature_lens.sum()) for b in batches)
            max_b = max(len(b) for b in batches)
            loader_rate[(name, workers)] = len(batches) / wall
            batch_ms[name] = 1000 * wall / len(batches) if workers == 0 else batch_ms.get(name)
            rows.append(
                (
                    f"{name}, {workers} workers",
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
        f"resampled); loader {loader_rate[('loader', 0)]:.1f} batches/s (0 workers), "
        f"{loader_rate[('loader', 1)]:.1f} (1 worker); MUSAN mixing + SpecAugment add "
        f"{batch_ms['loader + MUSAN + SpecAug'] - batch_ms['loader']:.1f} ms per batch (0 workers); "
        f"{synth_part}; cpu, {threads} threads"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
