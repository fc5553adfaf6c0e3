"""Feature extraction: resampling, speed perturbation and 80-dim log-mel fbank (stage 1 of a recipe).

For every cut, the audio is resampled to ``resample`` Hz (8 kHz telephone audio becomes 16 kHz), optionally
speed-perturbed by factors 0.9 and 1.1 (new cuts with ids ``<id>_sp0.9`` / ``<id>_sp1.1``, as icefall), and
turned into log-mel filterbank features ``(T, 80)`` with 25 ms windows every 10 ms, where
``T = round(duration / 0.01)`` (lhotse's ``snip_edges=False`` framing). Cuts without supervisions (noise
cuts such as MUSAN's, for mixing in training) are accepted when no cut of the manifest has one.

Files in ``out_dir`` for split ``S``:

- ``cuts_S.jsonl.gz``: the cuts with features; storage paths are relative to this file's directory
  (``hent_srt.data.manifest.read_cuts`` resolves them, so the directory can be read from anywhere and moved);
- ``feats_S-<run>/``: the arrays (lhotse ``LilcomChunkyWriter``), one directory per run that made them;
- ``cuts_S.meta.json``: the record of the finished run: digests of the input and output manifests, the
  settings, the size of every array file and which checks the cuts passed.

Nothing is lost and nothing half-written is left behind. Runs into one directory hold its advisory lock
(:class:`hent_srt.fileio.DirectoryLock`) and wait for each other; arrays are written to a new directory and the
manifest under a unique temporary name, renamed into place when complete, so the previous complete manifest and its arrays stay
valid until the new ones replace them (a run killed at any moment leaves one or the other); the next run removes
the temporaries of killed runs, and their array directories once its manifest is certain not to need them. A
re-run skips the work only when the record matches: the same input content (a fixed transcript is recomputed),
the same settings, and an output manifest and archives of the recorded digest and sizes (a truncated one is
recomputed).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import re
import secrets
import shutil
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from hent_srt.argtypes import int_at_least
from hent_srt.data.manifest import check_feature_storage, file_digest, read_cuts, read_recordings, read_supervisions
from hent_srt.data.schema import TRANSLATED_TEXT, SchemaError, blank_kind, validate_cuts
from hent_srt.fileio import DirectoryLock, write_text_atomic

__all__ = [
    "FBANK_DIM",
    "FBANK_SAMPLING_RATE",
    "SPEED_FACTORS",
    "FeatureInputError",
    "add_arguments",
    "check_feature_manifest",
    "compute_features",
    "feature_record",
    "main",
    "output_paths",
    "record_path",
    "record_problem",
    "write_feature_record",
]

log = logging.getLogger(__name__)

FBANK_DIM = 80
FBANK_SAMPLING_RATE = 16000
SPEED_FACTORS = (0.9, 1.1)
_MAX_LISTED = 20


class FeatureInputError(ValueError):
    """Raised when the input cuts cannot be turned into features; the message names the cuts and the fix."""


RECORD_VERSION = 1
_TOKEN_RE = "[0-9a-f]{12}"


def output_paths(out_dir: str | Path, split_name: str) -> tuple[Path, Path]:
    """``(manifest, record)`` that ``compute_features`` writes for ``split_name``."""
    manifest = Path(out_dir) / f"cuts_{split_name}.jsonl.gz"
    return manifest, record_path(manifest)


def record_path(manifest: str | Path) -> Path:
    """The record beside a feature manifest: ``cuts_S.jsonl.gz`` -> ``cuts_S.meta.json``."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.name.removesuffix(".gz").removesuffix(".jsonl") + ".meta.json")


def _listing(lines: list[str]) -> str:
    shown = lines[:_MAX_LISTED]
    more = len(lines) - len(shown)
    return "\n".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")


def _audio_of(cuts: CutSet, cut_ids: list[str]) -> list[str]:
    """``  cut 'id': <audio files>`` for each of ``cut_ids``."""
    wanted = set(cut_ids)
    lines = []
    for cut in cuts:
        if cut.id in wanted:
            sources = [src.source for src in cut.recording.sources] if cut.has_recording else []
            lines.append(f"  cut {cut.id!r}: {', '.join(map(str, sources)) or 'no recording'}")
    return lines


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


def feature_record(manifest: str | Path) -> dict[str, Any] | None:
    """The record of the run that wrote ``manifest``, or None when there is none or it is unreadable."""
    try:
        record = json.loads(record_path(manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


def record_problem(
    manifest: str | Path, input_digest: str | None = None, settings: dict[str, Any] | None = None
) -> str | None:
    """None when ``manifest`` is exactly what its record describes (and, if given, was made from an input of
    ``input_digest`` with ``settings``); otherwise why not, in words."""
    manifest = Path(manifest)
    record = feature_record(manifest)
    if record is None:
        return f"no record of a finished run beside {manifest} ({record_path(manifest).name})"
    if input_digest is not None and record.get("input_sha256") != input_digest:
        return "the input manifest changed since these features were made"
    if settings is not None and record.get("settings") != settings:
        return f"the settings changed (were {record.get('settings')}, now {settings})"
    if not manifest.is_file() or file_digest(manifest) != record.get("manifest_sha256"):
        return f"{manifest} is missing, truncated or changed since its run finished"
    arrays = manifest.parent / str(record.get("arrays", {}).get("dir", ""))
    for name, size in record.get("arrays", {}).get("files", {}).items():
        path = arrays / name
        actual = path.stat().st_size if path.is_file() else None
        if actual != size:
            state = "missing" if actual is None else f"truncated or changed ({actual} of {size} bytes)"
            return f"feature archive {path} is {state}"
    return None


def write_feature_record(
    manifest: str | Path,
    cuts: Iterable[Cut],
    array_dir: str | Path,
    settings: dict[str, Any],
    input_path: str | Path | None = None,
    input_digest: str | None = None,
    digest_of: str | Path | None = None,
) -> None:
    """Write the record of ``manifest`` (atomically): its digest (of the file ``digest_of`` that is about to
    become it, if given), its number of cuts, whether they have supervisions and into which languages every one
    is translated (one pass over ``cuts``, which must be the manifest's cuts, already validated), the size of
    every file of ``array_dir`` (a directory beside the manifest), the settings and the input."""
    manifest = Path(manifest)
    array_dir = Path(array_dir)
    num_cuts, supervised, langs = 0, False, None
    for cut in cuts:
        num_cuts += 1
        for sup in cut.supervisions:
            supervised = True
            have = {k for k, v in ((sup.custom or {}).get(TRANSLATED_TEXT) or {}).items() if blank_kind(v) is None}
            langs = have if langs is None else langs & have
    record = {
        "version": RECORD_VERSION,
        "input": None if input_path is None else str(input_path),
        "input_sha256": input_digest,
        "settings": settings,
        "num_cuts": num_cuts,
        "supervisions": supervised,
        "translated": sorted(langs or ()),
        "manifest_sha256": file_digest(digest_of if digest_of is not None else manifest),
        "arrays": {
            "dir": os.path.relpath(array_dir, manifest.parent),
            "files": {p.name: p.stat().st_size for p in sorted(array_dir.iterdir()) if p.is_file()},
        },
    }
    write_text_atomic(record_path(manifest), json.dumps(record, indent=1) + "\n")


def check_feature_manifest(path: str | Path, what: str, require_translation: bool, lang: str = "en",
                           require_features: bool = True) -> int:
    """Make sure the cuts of ``path`` follow the schema before training or decoding reads them, without a pass
    when possible; return the number of cuts.

    A manifest that its record certifies (written by ``hent-srt features``, unchanged since, archives intact,
    translations into ``lang`` checked when ``require_translation``) is accepted as it is; any other is validated
    in one streaming pass, which (``require_features``) also checks that every cut has features whose storage
    exists (:func:`hent_srt.data.manifest.check_feature_storage`). Raises ``SchemaError`` naming ``what`` (the
    config key or option), the file and the cut ids, and for a manifest without a single cut.
    """
    problem = record_problem(path)
    record = feature_record(path) if problem is None else None
    if record is not None and record.get("supervisions") and (
        not require_translation or lang in record.get("translated", [])
    ):
        log.info("%s=%s: %d cuts, checked when `hent-srt features` wrote them", what, path, record["num_cuts"])
        return _not_empty(record["num_cuts"], path, what)
    if record is None:
        reason = problem
    elif not record.get("supervisions"):
        reason = "its record is of cuts without supervisions"
    else:
        reason = f"its record does not say that every cut has a translation into {lang!r}"
    log.warning("%s=%s: %s; checking its cuts against the schema in one pass over the file", what, path, reason)
    cuts = read_cuts(path)
    try:
        num = validate_cuts(check_feature_storage(cuts, path) if require_features else cuts,
                            require_translation=require_translation, lang=lang)
    except SchemaError as err:
        raise SchemaError(f"{what}={path}: {err}") from None
    log.info("%s=%s: %d cuts follow the schema", what, path, num)
    return _not_empty(num, path, what)


def _not_empty(num_cuts: int, path: str | Path, what: str) -> int:
    if num_cuts == 0:
        raise SchemaError(f"{what}={path}: the manifest holds no cut; check the path, or run the stage that writes "
                          "it again (stage 1: hent-srt features)")
    return num_cuts


def _remove_temporaries(out_dir: Path, split_name: str) -> None:
    """Remove the temporaries that killed runs left for ``split_name``.

    Called with the directory lock held, so no live run owns them."""
    split = re.escape(split_name)
    stale = re.compile(
        rf"\.feats_{split}-{_TOKEN_RE}\.tmp|\.cuts_{split}\.{_TOKEN_RE}\.tmp\.jsonl\.gz|"
        rf"\.cuts_{split}\.meta\.json\..+\.tmp|\.segments_{split}\.{_TOKEN_RE}\.tmp\.jsonl\.gz"
    )
    for entry in out_dir.iterdir():
        if stale.fullmatch(entry.name):
            log.info("removing %s, left by an interrupted run", entry)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _remove_other_arrays(out_dir: Path, split_name: str, keep: str) -> None:
    """Remove the array directories of ``split_name`` but ``keep`` (the one the new manifest points at): those
    of the manifest it replaced and of killed runs. Called with the directory lock held."""
    arrays = re.compile(rf"feats_{re.escape(split_name)}(-{_TOKEN_RE})?")
    for entry in out_dir.iterdir():
        if arrays.fullmatch(entry.name) and entry.name != keep and entry.is_dir():
            log.info("removing %s, which no manifest points at any more", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _one_thread() -> None:
    """Worker initialiser: one torch thread per extraction process (several spinning OpenMP pools per core
    make fbank an order of magnitude slower)."""
    torch.set_num_threads(1)


def _relocate(cut: Cut, tmp_dir: Path, array_dir_name: str) -> Cut:
    """``cut`` with its storage path moved from ``tmp_dir`` to ``array_dir_name`` (relative to the manifest)."""
    rel = Path(cut.features.storage_path).relative_to(tmp_dir)
    return fastcopy(cut, features=fastcopy(cut.features, storage_path=str(Path(array_dir_name) / rel)))


def _extract(cuts: CutSet, tmp_dir: Path, sampling_rate: int, num_jobs: int) -> CutSet:
    """Fbank of every cut, stored under ``tmp_dir``."""
    threads = torch.get_num_threads()
    # One torch thread per extracting process: fbank works on small tensors, and several spinning OpenMP
    # threads per core made it ten times slower here (0.5 s vs 4.9 s for 50 utterances on 2 cores).
    torch.set_num_threads(1)
    extractor = Fbank(FbankConfig(num_mel_bins=FBANK_DIM, sampling_rate=sampling_rate))
    executor = (
        ProcessPoolExecutor(num_jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)
        if num_jobs > 1
        else None
    )
    try:
        return cuts.compute_and_store_features(
            extractor=extractor,
            storage_path=tmp_dir / "feats-0" if num_jobs == 1 else tmp_dir,
            num_jobs=num_jobs,
            storage_type=LilcomChunkyWriter,
            progress_bar=True,
            executor=executor,
        )
    finally:
        if executor is not None:
            executor.shutdown()
        torch.set_num_threads(threads)


def compute_features(
    cuts_in_path: str | Path,
    out_dir: str | Path,
    split_name: str,
    resample: int | None = FBANK_SAMPLING_RATE,
    speed_perturb: bool = False,
    num_jobs: int = 1,
    shuffle: bool = False,
    lock_timeout: float | None = None,
) -> Path:
    """Compute 80-dim fbank features for the cuts in ``cuts_in_path``; return the output manifest path.

    Args:
        cuts_in_path: lhotse cut manifest (``.jsonl.gz``) in the cut schema, with recordings; or noise cuts
            with recordings and no supervisions at all.
        out_dir: directory for ``cuts_<split_name>.jsonl.gz``, its record and its arrays (module docstring).
        split_name: name of the split (``train``, ``dev`` ...), used in the output names.
        resample: rate in Hz to resample all audio to, also the fbank's rate; ``None`` turns resampling
            off, and then every recording must already be at 16 kHz.
        speed_perturb: add copies of every cut at speed 0.9 and 1.1 (ids suffixed ``_sp0.9`` / ``_sp1.1``).
        num_jobs: worker processes for extraction.
        shuffle: write the cuts in a random order (seed 0), so that a training manifest read lazily is mixed
            well within the sampler's buffer (speed-perturbed copies are otherwise appended at the end).
        lock_timeout: seconds to wait for another run holding ``out_dir`` (None: wait as long as it runs).

    A re-run whose record matches returns at once. Raises ``FeatureInputError`` for missing audio files or a
    sampling-rate mismatch, ``SchemaError`` for cuts outside the schema, ``ManifestError`` for an unreadable
    input manifest.
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
    out_dir = Path(out_dir)
    manifest, _ = output_paths(out_dir, split_name)
    settings = {"resample": resample, "speed_perturb": speed_perturb, "shuffle": shuffle, "fbank_dim": FBANK_DIM}
    with DirectoryLock(out_dir, wait=True if lock_timeout is None else lock_timeout):
        _remove_temporaries(out_dir, split_name)
        input_digest = file_digest(cuts_in_path, content=True)
        reason = record_problem(manifest, input_digest, settings)
        if reason is None:
            log.info("features for %s are complete in %s; skipping", split_name, manifest)
            _remove_other_arrays(out_dir, split_name, keep=feature_record(manifest)["arrays"]["dir"])
            return manifest
        if manifest.exists():
            log.info("recomputing the features of %s: %s", split_name, reason)
        cuts = CutSet.from_cuts(read_cuts(cuts_in_path))
        if len(cuts) == 0:
            raise ValueError(
                f"cuts_in_path {str(cuts_in_path)!r} holds no cuts; check data preparation (stage 0)."
            )
        noise = not any(c.supervisions for c in cuts)
        if noise:
            log.info("%s: no cut has a supervision; computing features of noise cuts", cuts_in_path)
        validate_cuts(cuts, require_translation=False, require_supervision=not noise)
        _check_audio(cuts, resample)
        if resample is not None:
            cuts = cuts.resample(resample)
        if speed_perturb:
            original = cuts
            for factor in SPEED_FACTORS:
                cuts = cuts + original.perturb_speed(factor)
        expected = list(cuts.ids)
        token = secrets.token_hex(6)
        array_dir_name = f"feats_{split_name}-{token}"
        tmp_dir = out_dir / f".{array_dir_name}.tmp"
        tmp_manifest = out_dir / f".cuts_{split_name}.{token}.tmp.jsonl.gz"
        sampling_rate = resample if resample is not None else FBANK_SAMPLING_RATE
        try:
            tmp_dir.mkdir()
            with_feats = _extract(cuts, tmp_dir, sampling_rate, num_jobs)
            done = CutSet.from_cuts(_relocate(c, tmp_dir, array_dir_name) for c in with_feats)
            lost = sorted(set(expected) - set(done.ids))
            if lost:
                raise FeatureInputError(
                    f"the audio of {len(lost)} cut(s) could not be read:\n{_listing(_audio_of(cuts, lost))}\n"
                    "Fix: check these audio files (lhotse skipped them while loading: empty, truncated or not "
                    "audio); replace them, or drop their cuts from the input manifest."
                )
            if shuffle:
                done = done.shuffle(rng=random.Random(0))
            validate_cuts(done, require_translation=False, require_supervision=not noise)
            done.to_file(tmp_manifest)
            tmp_dir.rename(out_dir / array_dir_name)
            write_feature_record(manifest, done, out_dir / array_dir_name, settings, cuts_in_path, input_digest,
                                 digest_of=tmp_manifest)
            os.replace(tmp_manifest, manifest)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            tmp_manifest.unlink(missing_ok=True)
        _remove_other_arrays(out_dir, split_name, keep=array_dir_name)
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
        type=int_at_least(0),
        default=FBANK_SAMPLING_RATE,
        help="resample audio to this rate in Hz; 0 turns resampling off (audio must then be 16 kHz)",
    )
    parser.add_argument(
        "--speed-perturb", action="store_true", help="add speed 0.9 and 1.1 copies of each cut"
    )
    parser.add_argument("--num-jobs", type=int_at_least(1), default=1, help="worker processes")
    parser.add_argument(
        "--shuffle", action="store_true",
        help="write the cuts in a random order (seed 0): for training manifests, which are read lazily",
    )


def segment_cuts(recordings_path: str | Path, supervisions_path: str | Path, out_path: str | Path) -> Path:
    """Write one cut per supervision segment of (whole-conversation) recordings to ``out_path``, atomically.

    The cut takes the supervision's channel and time span (lhotse ``trim_to_supervisions``); overlapping
    supervisions of other channels are not attached. Holds the lock of ``out_path``'s directory.
    """
    for name, path in (("--recordings", recordings_path), ("--supervisions", supervisions_path)):
        if not Path(path).is_file():
            raise ValueError(f"{name} {str(path)!r} does not exist; run data preparation (stage 0) first.")
    recordings = read_recordings(recordings_path)
    supervisions = read_supervisions(supervisions_path)
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions(
        keep_overlapping=False
    )
    out_path = Path(out_path)
    with DirectoryLock(out_path.parent, wait=True):
        tmp = out_path.with_name(f".{out_path.name.removesuffix('.jsonl.gz')}.{secrets.token_hex(6)}.tmp.jsonl.gz")
        try:
            cuts.to_file(tmp)
            os.replace(tmp, out_path)
        finally:
            tmp.unlink(missing_ok=True)
    return out_path


def main(args: argparse.Namespace) -> int:
    """Run ``hent-srt features``; return 0 on success, 2 on an error the user can fix."""
    try:
        if not args.split or "/" in args.split:
            raise ValueError(f"--split {args.split!r}: give a non-empty name without '/' (train, dev, test ...)")
        if 0 < args.resample < 8000:
            raise ValueError(f"--resample {args.resample}: give a rate in Hz >= 8000 (16000 for the fbank), or 0 "
                             "to turn resampling off")
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
            shuffle=args.shuffle,
        )
    except ValueError as err:  # FeatureInputError, SchemaError and ManifestError are ValueErrors
        print(f"hent-srt features: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0
