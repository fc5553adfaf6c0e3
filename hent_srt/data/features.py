"""Feature extraction: resampling, speed perturbation and 80-dim log-mel fbank (stage 1 of a recipe).

For every cut, the audio is resampled to ``resample`` Hz (8 kHz telephone audio becomes 16 kHz), optionally
speed-perturbed by factors 0.9 and 1.1 (new cuts with ids ``<id>_sp0.9`` / ``<id>_sp1.1``, as icefall), and
turned into log-mel filterbank features ``(T, 80)`` with 25 ms windows every 10 ms, where
``T = round(duration / 0.01)`` (lhotse's ``snip_edges=False`` framing). Arrays are stored with lhotse's
``LilcomChunkyWriter``; the output manifest ``<out_dir>/cuts_<split>.jsonl.gz`` points at them.

Nothing half-written is left behind: arrays and manifest are written under temporary names and renamed
into place at the end (arrays first), so a manifest exists only when every array it points at does. A
re-run whose manifest is present and complete does no work.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter, RecordingSet, SupervisionSet
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from hent_srt.data.schema import validate_cuts

__all__ = [
    "FBANK_DIM",
    "FBANK_SAMPLING_RATE",
    "SPEED_FACTORS",
    "FeatureInputError",
    "add_arguments",
    "compute_features",
    "main",
    "output_paths",
]

log = logging.getLogger(__name__)

FBANK_DIM = 80
FBANK_SAMPLING_RATE = 16000
SPEED_FACTORS = (0.9, 1.1)
_MAX_LISTED = 20


class FeatureInputError(ValueError):
    """Raised when the input cuts cannot be turned into features; the message names the cuts and the fix."""


def output_paths(out_dir: str | Path, split_name: str) -> tuple[Path, Path]:
    """``(manifest, array_dir)`` that ``compute_features`` writes for ``split_name``."""
    out_dir = Path(out_dir)
    return out_dir / f"cuts_{split_name}.jsonl.gz", out_dir / f"feats_{split_name}"


def _listing(lines: list[str]) -> str:
    shown = lines[:_MAX_LISTED]
    more = len(lines) - len(shown)
    return "\n".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")


def _check_audio(cuts: CutSet, resample: int | None) -> None:
    missing, no_audio, wrong_rate = [], [], []
    for cut in cuts:
        if not cut.has_recording:
            no_audio.append(f"  cut {cut.id!r}: no recording attached")
            continue
        rec = cut.recording
        for src in rec.sources:
            if src.type == "file" and not Path(src.source).is_file():
                missing.append(f"  cut {cut.id!r} (recording {rec.id!r}): audio file not found: {src.source}")
        if resample is None and rec.sampling_rate != FBANK_SAMPLING_RATE:
            wrong_rate.append(f"  cut {cut.id!r} (recording {rec.id!r}): {rec.sampling_rate} Hz")
    if missing:
        raise FeatureInputError(
            f"{len(missing)} audio file(s) are missing:\n{_listing(missing)}\n"
            "Fix: make the corpus audio available at these paths, or re-run data preparation (stage 0) "
            "with the right --corpus-dir."
        )
    if no_audio:
        raise FeatureInputError(
            f"{len(no_audio)} cut(s) have no audio:\n{_listing(no_audio)}\n"
            "Fix: pass the cuts made by stage 0 (with recordings), not cuts that already carry features."
        )
    if wrong_rate:
        raise FeatureInputError(
            f"{len(wrong_rate)} cut(s) are not at {FBANK_SAMPLING_RATE} Hz, the rate the fbank is configured "
            f"for, and resampling is off:\n{_listing(wrong_rate)}\n"
            f"Fix: turn resampling on (resample={FBANK_SAMPLING_RATE}, or --resample {FBANK_SAMPLING_RATE})."
        )


def _expected_ids(cuts: CutSet, speed_perturb: bool) -> list[str]:
    ids = [c.id for c in cuts]
    if speed_perturb:
        ids += [f"{i}_sp{f}" for f in SPEED_FACTORS for i in cuts.ids]
    return ids


def _is_complete(manifest: Path, expected_ids: list[str], sampling_rate: int) -> bool:
    """True when ``manifest`` holds exactly the expected cuts, with fbank arrays that exist on disk."""
    if not manifest.is_file():
        return False
    try:
        done = CutSet.from_file(manifest)
        cuts = list(done)
    except (OSError, EOFError, ValueError, KeyError, TypeError) as err:  # unreadable: recompute
        log.warning("ignoring unreadable manifest %s (%s)", manifest, err)
        return False
    if sorted(c.id for c in cuts) != sorted(expected_ids):
        return False
    for cut in cuts:
        feats = cut.features if cut.has_features else None
        if (
            feats is None
            or feats.num_features != FBANK_DIM
            or feats.sampling_rate != sampling_rate
            or not Path(feats.storage_path).exists()
        ):
            return False
    return True


def _one_thread() -> None:
    """Worker initialiser: one torch thread per extraction process (several spinning OpenMP pools per core
    make fbank an order of magnitude slower)."""
    torch.set_num_threads(1)


def _relocate(cut: Cut, tmp_dir: Path, final_dir: Path) -> Cut:
    rel = Path(cut.features.storage_path).relative_to(tmp_dir)
    return fastcopy(cut, features=fastcopy(cut.features, storage_path=str(final_dir / rel)))


def compute_features(
    cuts_in_path: str | Path,
    out_dir: str | Path,
    split_name: str,
    resample: int | None = FBANK_SAMPLING_RATE,
    speed_perturb: bool = False,
    num_jobs: int = 1,
) -> Path:
    """Compute 80-dim fbank features for the cuts in ``cuts_in_path``; return the output manifest path.

    Args:
        cuts_in_path: lhotse cut manifest (``.jsonl.gz``) in the cut schema, with recordings.
        out_dir: directory for ``cuts_<split_name>.jsonl.gz`` and the arrays ``feats_<split_name>/``.
        split_name: name of the split (``train``, ``dev`` ...), used in the output names.
        resample: rate in Hz to resample all audio to, also the fbank's rate; ``None`` turns resampling
            off, and then every recording must already be at 16 kHz.
        speed_perturb: add copies of every cut at speed 0.9 and 1.1 (ids suffixed ``_sp0.9`` / ``_sp1.1``).
        num_jobs: worker processes for extraction.

    A re-run whose manifest is present and complete returns at once. Raises ``FeatureInputError`` for
    missing audio files or a sampling-rate mismatch, ``SchemaError`` for cuts outside the schema.
    """
    cuts_in_path = Path(cuts_in_path)
    if not cuts_in_path.is_file():
        raise ValueError(
            f"cuts_in_path {str(cuts_in_path)!r} does not exist; run data preparation (stage 0) first."
        )
    if not split_name or "/" in split_name:
        raise ValueError(f"split_name must be a non-empty name without '/', got {split_name!r}.")
    if resample is not None and (not isinstance(resample, int) or resample < 8000):
        raise ValueError(f"resample must be a rate in Hz >= 8000 or None (off), got {resample!r}.")
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be >= 1, got {num_jobs}.")
    sampling_rate = resample if resample is not None else FBANK_SAMPLING_RATE
    manifest, array_dir = output_paths(out_dir, split_name)

    cuts = CutSet.from_file(cuts_in_path).to_eager()
    if len(cuts) == 0:
        raise ValueError(
            f"cuts_in_path {str(cuts_in_path)!r} holds no cuts; check data preparation (stage 0)."
        )
    expected = _expected_ids(cuts, speed_perturb)
    if _is_complete(manifest, expected, sampling_rate):
        log.info("features for %s are complete in %s; skipping", split_name, manifest)
        return manifest

    validate_cuts(cuts, require_translation=False)
    _check_audio(cuts, resample)
    if resample is not None:
        cuts = cuts.resample(resample)
    if speed_perturb:
        original = cuts
        for factor in SPEED_FACTORS:
            cuts = cuts + original.perturb_speed(factor)

    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    tmp_dir = array_dir.with_name(f".{array_dir.name}.tmp")
    tmp_manifest = manifest.with_name(f".cuts_{split_name}.tmp.jsonl.gz")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    threads = torch.get_num_threads()
    # One torch thread per extracting process: fbank works on small tensors, and several spinning OpenMP
    # threads per core made it ten times slower here (0.5 s vs 4.9 s for 50 utterances on 2 cores).
    torch.set_num_threads(1)
    try:
        extractor = Fbank(FbankConfig(num_mel_bins=FBANK_DIM, sampling_rate=sampling_rate))
        storage = tmp_dir / "feats-0" if num_jobs == 1 else tmp_dir
        executor = (
            ProcessPoolExecutor(num_jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)
            if num_jobs > 1
            else None
        )
        try:
            with_feats = cuts.compute_and_store_features(
                extractor=extractor,
                storage_path=storage,
                num_jobs=num_jobs,
                storage_type=LilcomChunkyWriter,
                progress_bar=True,
                executor=executor,
            )
        finally:
            if executor is not None:
                executor.shutdown()
        done = CutSet.from_cuts(_relocate(c, tmp_dir, array_dir) for c in with_feats)
        lost = sorted(set(expected) - set(done.ids))
        if lost:
            raise FeatureInputError(
                f"audio of {len(lost)} cut(s) could not be read: {', '.join(lost[:_MAX_LISTED])}\n"
                "Fix: check these recordings' audio files (lhotse skipped them while loading)."
            )
        done.to_file(tmp_manifest)
        shutil.rmtree(array_dir, ignore_errors=True)
        tmp_dir.rename(array_dir)
        tmp_manifest.rename(manifest)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_manifest.unlink(missing_ok=True)
    log.info("wrote %d cuts with features to %s", len(expected), manifest)
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``hent-srt features``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cuts-in", help="input cut manifest from stage 0 (.jsonl.gz)")
    source.add_argument("--recordings", help="recording manifest of stage 0 (with --supervisions)")
    parser.add_argument("--supervisions", help="supervision manifest of stage 0: one cut per supervision segment")
    parser.add_argument("--out-dir", required=True, help="output directory (e.g. data/fbank)")
    parser.add_argument(
        "--split", required=True, help="split name used in output names (train, dev, test ...)"
    )
    parser.add_argument(
        "--resample",
        type=int,
        default=FBANK_SAMPLING_RATE,
        help="resample audio to this rate in Hz; 0 turns resampling off (audio must then be 16 kHz)",
    )
    parser.add_argument(
        "--speed-perturb", action="store_true", help="add speed 0.9 and 1.1 copies of each cut"
    )
    parser.add_argument("--num-jobs", type=int, default=1, help="worker processes")


def segment_cuts(recordings_path: str | Path, supervisions_path: str | Path, out_path: str | Path) -> Path:
    """Write one cut per supervision segment of (whole-conversation) recordings to ``out_path``, atomically.

    The cut takes the supervision's channel and time span (lhotse ``trim_to_supervisions``); overlapping
    supervisions of other channels are not attached.
    """
    for name, path in (("--recordings", recordings_path), ("--supervisions", supervisions_path)):
        if not Path(path).is_file():
            raise ValueError(f"{name} {str(path)!r} does not exist; run data preparation (stage 0) first.")
    recordings = RecordingSet.from_file(recordings_path)
    supervisions = SupervisionSet.from_file(supervisions_path)
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions(
        keep_overlapping=False
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp.jsonl.gz")
    cuts.to_file(tmp)
    tmp.rename(out_path)
    return out_path


def main(args: argparse.Namespace) -> int:
    """Run ``hent-srt features``; return 0 on success, 2 on an error the user can fix."""
    try:
        cuts_in = args.cuts_in
        if cuts_in is None:
            if args.supervisions is None:
                raise ValueError("--recordings needs --supervisions (the segments to cut the recordings into)")
            cuts_in = segment_cuts(args.recordings, args.supervisions,
                                   Path(args.out_dir) / f"segments_{args.split}.jsonl.gz")
        path = compute_features(
            cuts_in,
            args.out_dir,
            args.split,
            resample=args.resample or None,
            speed_perturb=args.speed_perturb,
            num_jobs=args.num_jobs,
        )
    except ValueError as err:  # FeatureInputError and SchemaError are ValueErrors
        print(f"hent-srt features: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0
