"""IWSLT 2022 Tunisian Arabic → English (LDC2022E01; republished with later eval sets as LDC2025S05).

Corpus layout (one side of a call per file, ``<file_id>`` like ``20170613_140147_14794_A``)::

    <corpus_dir>/data/audio/ta/<file_id>.sph                   8 kHz single-channel SPHERE
    <corpus_dir>/data/transcripts/ta/<file_id>[.<tag>].tsv      start \\t end \\t speaker \\t Tunisian text
    <corpus_dir>/data/translations/ta/<file_id>.eng.tsv         start \\t end \\t speaker \\t English text

Split lists (the shared task's ``iwslt22-dialect`` repository), in one directory::

    train.file_id.txt  dev.file_id.txt  test1.file_id.txt      one file id per line (2198 / 42 / 44 sides)
    exclude-utterance.txt                                      file_id start end, one faulty segment per line

A transcript line and a translation line are one segment when their start and end times agree within a
tolerance; lines are never paired by position or by sorting strings. As in the task's ``1_prepare_stm.py``,
excluded segments are left out and, of several lines of a file with the same start time, the last is kept.
Texts get the official filters (:func:`~hent_srt.data.text.normalize_iwslt22_tunisian`,
:func:`~hent_srt.data.text.normalize_iwslt22_english`) unless ``normalize=False``; dev and test1 keep a text
that the filters leave empty (``؟``, ``?``) as released (:func:`~hent_srt.data.corpora.manifests.segment_texts`),
train drops it.

All files are UTF-8 (the Tunisian in Arabic script, with the Latin ``O/ U/ M/`` markers), read with
:func:`~hent_srt.data.corpora.textfile.read_lines`: byte-order marks, CRLF and line breaks other than ``\n``
inside a line do not change the lines; fields are stripped of surrounding blanks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lhotse import RecordingSet, SupervisionSet
from tqdm import tqdm

from hent_srt.data.corpora.manifests import (
    CorpusError,
    DropCounter,
    SplitManifests,
    check_expected_count,
    fit_to_recordings,
    match_by_timing,
    require_dir,
    require_file,
    segment_texts,
    write_splits,
)
from hent_srt.data.corpora.sphere import sphere_recording
from hent_srt.data.corpora.textfile import read_lines
from hent_srt.data.schema import make_supervision
from hent_srt.data.text import normalize_iwslt22_english, normalize_iwslt22_tunisian

__all__ = [
    "CORPUS",
    "EVALUATION_SPLITS",
    "EXPECTED_SEGMENTS",
    "SPLITS",
    "TsvSegment",
    "pair_by_timing",
    "prepare_iwslt22_ta",
    "read_exclusions",
    "read_split_lists",
    "read_tsv",
]

CORPUS = "iwslt22_ta"
SPLITS = ("train", "dev", "test1")
EVALUATION_SPLITS = ("dev", "test1")
EXPECTED_SEGMENTS = {"train": 202_499, "dev": 3_833, "test1": 4_204}
LANGUAGE = "aeb"
TIME_TOLERANCE = 0.01

_SPLIT_FIX = (
    "Pass --split-dir pointing at a checkout of https://github.com/kevinduh/iwslt22-dialect (it holds "
    "train.file_id.txt, dev.file_id.txt, test1.file_id.txt and exclude-utterance.txt)."
)
_CORPUS_FIX = (
    "Pass --corpus-dir pointing at the unpacked LDC2022E01 (or LDC2025S05) release, which holds data/."
)


@dataclass(frozen=True)
class TsvSegment:
    """One line of an IWSLT22 transcript or translation TSV (``line`` is 1-based)."""

    start: float
    end: float
    speaker: str
    text: str
    line: int


def read_tsv(path: Path) -> list[TsvSegment]:
    """Read a ``start \\t end \\t speaker \\t text`` file; ``CorpusError`` naming the line when malformed."""
    segments = []
    for number, raw in enumerate(read_lines(path, what="an IWSLT22 transcript or translation TSV"), start=1):
        if not raw.strip():
            continue
        parts = raw.split("\t")
        if len(parts) < 3:
            raise CorpusError(
                f"{path}, line {number}: expected 'start<TAB>end<TAB>speaker<TAB>text', got {raw!r}."
            )
        text = " ".join(" ".join(parts[3:]).split())
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            raise CorpusError(f"{path}, line {number}: start/end times are not numbers in {raw!r}.") from None
        segments.append(TsvSegment(start=start, end=end, speaker=parts[2].strip(), text=text, line=number))
    return segments


def _read_id_list(path: Path) -> list[str]:
    return [line.strip() for line in read_lines(path, what="an IWSLT22 split list") if line.strip()]


def read_split_lists(split_dir: Path | str, splits: Sequence[str] = SPLITS) -> dict[str, list[str]]:
    """Read ``<split>.file_id.txt`` for each split; ``CorpusError`` when a list is missing or overlaps."""
    split_dir = require_dir(split_dir, "IWSLT22 split lists", _SPLIT_FIX)
    lists = {}
    owner: dict[str, str] = {}
    for split in splits:
        path = require_file(split_dir / f"{split}.file_id.txt", f"IWSLT22 {split} split list", _SPLIT_FIX)
        ids = _read_id_list(path)
        if not ids:
            raise CorpusError(
                f"{path} is empty; expected one file id (like 20170613_140147_14794_A) per line."
            )
        for file_id in ids:
            if file_id in owner:
                raise CorpusError(
                    f"{path}: file id {file_id} is also listed for split {owner[file_id]}; each side belongs to "
                    "one split. Use the unmodified split lists."
                )
            owner[file_id] = split
        lists[split] = ids
    return lists


def _time_key(file_id: str, start: float, end: float) -> tuple[str, int, int]:
    return file_id, round(start * 1000), round(end * 1000)


def read_exclusions(split_dir: Path | str) -> set[tuple[str, int, int]]:
    """Read ``exclude-utterance.txt``: keys ``(file_id, start_ms, end_ms)`` of segments to leave out."""
    path = require_file(Path(split_dir) / "exclude-utterance.txt", "IWSLT22 exclusion list", _SPLIT_FIX)
    keys = set()
    for number, raw in enumerate(read_lines(path, what="the IWSLT22 exclusion list"), start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise CorpusError(f"{path}, line {number}: expected 'file_id start end', got {raw!r}.")
        try:
            keys.add(_time_key(parts[0], float(parts[1]), float(parts[2])))
        except ValueError:
            raise CorpusError(f"{path}, line {number}: start/end are not numbers in {raw!r}.") from None
    return keys


def pair_by_timing(
    transcript: Sequence[TsvSegment],
    translation: Sequence[TsvSegment],
    transcript_path: Path,
    translation_path: Path,
    tolerance: float = TIME_TOLERANCE,
) -> list[tuple[TsvSegment, TsvSegment]]:
    """Pair each transcript line with the translation line of the same start and end (within ``tolerance``).

    Among candidates the closest in time is taken, each translation line at most once. Raises
    ``CorpusError`` naming both files when the line counts differ or a line has no partner.
    """
    if len(transcript) != len(translation):
        raise CorpusError(
            f"mismatched line counts: {transcript_path} has {len(transcript)} segments but {translation_path} "
            f"has {len(translation)}; expected one translation line per transcript line, with the same "
            "start and end times. Restore both files from the LDC release."
        )
    pairs, unmatched, _ = match_by_timing(transcript, translation, tolerance)
    if unmatched:
        seg = unmatched[0]
        raise CorpusError(
            f"{transcript_path}, line {seg.line}: no line of {translation_path} has the same times "
            f"({seg.start:.3f}-{seg.end:.3f} s, tolerance {tolerance} s); expected every transcript segment "
            "to have its translation. Restore both files from the LDC release."
        )
    return pairs


def _index_transcripts(transcript_dir: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(transcript_dir.glob("*.tsv")):
        if path.name.startswith("."):
            continue
        index.setdefault(path.name.split(".")[0], path)
    return index


def _side_supervisions(
    file_id: str,
    transcript_path: Path,
    translation_path: Path,
    exclusions: set[tuple[str, int, int]],
    normalize: bool,
    tolerance: float,
    evaluation: bool,
    drops: DropCounter,
) -> list:
    pairs = pair_by_timing(
        read_tsv(transcript_path), read_tsv(translation_path), transcript_path, translation_path, tolerance
    )
    latest: dict[int, tuple[TsvSegment, TsvSegment]] = {}
    for src, tgt in pairs:
        if _time_key(file_id, src.start, src.end) in exclusions:
            drops.add("excluded by exclude-utterance.txt")
            continue
        start_ms = round(src.start * 1000)
        if start_ms in latest:
            drops.add("repeated start time (last line kept)")
        latest[start_ms] = (src, tgt)
    supervisions = []
    for start_ms in sorted(latest):
        src, tgt = latest[start_ms]
        text = normalize_iwslt22_tunisian(src.text) if normalize else src.text
        translation = normalize_iwslt22_english(tgt.text) if normalize else tgt.text
        kept = segment_texts(src.end - src.start, (text, src.text), (translation, tgt.text), evaluation, drops)
        if kept is None:
            continue
        text, translation = kept
        supervisions.append(
            make_supervision(
                id=f"{file_id}-{start_ms:07d}-{round(src.end * 1000):07d}",
                recording_id=file_id,
                start=round(src.start, 3),
                duration=round(src.end - src.start, 3),
                channel=0,
                text=text,
                language=LANGUAGE,
                translation=translation,
                speaker=f"{file_id}-{src.speaker}" if src.speaker else file_id,
            )
        )
    return supervisions


def _check_splits_argument(splits: Iterable[str]) -> list[str]:
    splits = list(splits)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"splits must be a non-empty subset of {', '.join(SPLITS)}; got {splits}.")
    return splits


def prepare_iwslt22_ta(
    corpus_dir: Path | str,
    split_dir: Path | str,
    output_dir: Path | str | None = None,
    splits: Sequence[str] = SPLITS,
    normalize: bool = True,
    flac_dir: Path | str | None = None,
    tolerance: float = TIME_TOLERANCE,
) -> dict[str, SplitManifests]:
    """Prepare the IWSLT22 Tunisian–English splits; return ``{split: (RecordingSet, SupervisionSet)}``.

    ``normalize`` applies the official text filters; ``flac_dir`` converts the audio to FLAC there once.
    With ``output_dir`` the manifests ``iwslt22_ta_{recordings,supervisions}_<split>.jsonl.gz`` are written
    (all or nothing). Segment counts are compared with the published ones and a warning gives the
    difference.
    """
    splits = _check_splits_argument(splits)
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 seconds, got {tolerance}.")
    corpus_dir = require_dir(corpus_dir, "IWSLT22 corpus", _CORPUS_FIX)
    audio_dir = require_dir(corpus_dir / "data" / "audio" / "ta", "IWSLT22 audio", _CORPUS_FIX)
    transcript_dir = require_dir(
        corpus_dir / "data" / "transcripts" / "ta", "IWSLT22 transcripts", _CORPUS_FIX
    )
    translation_dir = require_dir(
        corpus_dir / "data" / "translations" / "ta", "IWSLT22 translations", _CORPUS_FIX
    )
    split_lists = read_split_lists(split_dir, splits)
    exclusions = read_exclusions(split_dir)
    transcripts = _index_transcripts(transcript_dir)

    manifests: dict[str, SplitManifests] = {}
    for split in splits:
        list_path = Path(split_dir) / f"{split}.file_id.txt"
        unknown = [f for f in split_lists[split] if f not in transcripts]
        if unknown:
            raise CorpusError(
                f"{list_path} names {len(unknown)} side(s) with no transcript in {transcript_dir}, e.g. "
                f"{unknown[0]}; expected data/transcripts/ta/<file_id>.tsv for every listed file id. Check that "
                "the split lists match this release."
            )
        drops = DropCounter()
        recordings, supervisions = [], []
        for file_id in tqdm(split_lists[split], desc=f"{CORPUS} {split}", leave=False):
            translation_path = translation_dir / f"{file_id}.eng.tsv"
            if not translation_path.is_file():
                raise CorpusError(
                    f"transcript {transcripts[file_id]} has no translation: expected {translation_path}. "
                    "Restore data/translations/ta from the LDC release."
                )
            audio_path = audio_dir / f"{file_id}.sph"
            if not audio_path.is_file():
                raise CorpusError(
                    f"{list_path} lists {file_id} but its audio {audio_path} does not exist; expected "
                    "data/audio/ta/<file_id>.sph for every listed file id."
                )
            recordings.append(sphere_recording(audio_path, file_id, flac_dir))
            supervisions.extend(
                _side_supervisions(
                    file_id,
                    transcripts[file_id],
                    translation_path,
                    exclusions,
                    normalize,
                    tolerance,
                    split in EVALUATION_SPLITS,
                    drops,
                )
            )
        recording_set = RecordingSet.from_recordings(recordings)
        supervision_set = SupervisionSet.from_segments(fit_to_recordings(supervisions, recording_set, drops))
        check_expected_count(CORPUS, split, len(supervision_set), EXPECTED_SEGMENTS[split], drops)
        manifests[split] = (recording_set, supervision_set)
    if output_dir is not None:
        write_splits(output_dir, CORPUS, manifests)
    return manifests
