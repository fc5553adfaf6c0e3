"""Fisher and CALLHOME Spanish → English (Post et al. 2013 translations).

Inputs (any directory depth inside each release; files are found by name):

- Fisher Spanish audio, LDC2010S01: ``<stem>.sph`` (two-channel, 8 kHz), ``<stem>`` like
  ``20051009_182032_217_fsp``; transcripts, LDC2010T04: ``<stem>.tdf`` (UTF-8, tab-separated: file, channel
  (0 = side A, 1 = side B), start, end, speaker, speaker type, dialect, transcript, ...; header lines
  ``file;unicode ...`` and ``;;MM ...``).
- CALLHOME Spanish audio, LDC96S35: ``SP_0897.SPH`` (two-channel); transcripts, LDC96T17:
  ``transcrp/<part>/sp_0897.txt`` (ISO-8859-1, lines ``start end A: text``; a copy converted to UTF-8 is
  recognised).
- Translations, LDC2014T23 or https://github.com/joshua-decoder/fisher-callhome-corpus:
  ``mapping/<split>`` (lines ``<transcript stem> <line ids joined by _>``) and ``corpus/ldc/<split>.en``, or
  ``.en.0`` … ``.en.3`` (four references) for fisher_dev, fisher_dev2 and fisher_test. UTF-8, with carriage
  returns inside some lines: lines end at ``\n`` only (:func:`~hent_srt.data.corpora.textfile.read_lines`).

Line ids count, from 1, the transcript lines as Post et al.'s ``build_fisher.sh``/``build_callhome.sh`` do:
Fisher skips the ``file;unicode`` and ``;;MM`` header lines, CALLHOME counts every line of the file. A segment
is the union of its lines (first start to last end, on the channel of its first line), its Spanish the
lines' texts joined, with LDC markup stripped as in Post's ``strip_markup.pl``; its English is the line of
the same index in ``corpus/ldc/<split>.en[.0]``. With ``normalize`` both sides get Post's ``lc.rm``
(:func:`~hent_srt.data.text.normalize_lc_rm`).

The evaluation splits (all but fisher_train and callhome_train) keep every segment with a positive duration,
as the published sizes do: a reference that normalisation leaves empty (punctuation only, such as ``--``) is
stored as released (:func:`~hent_srt.data.corpora.manifests.segment_texts`). The training splits drop such
segments, counted in the summary line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lhotse import Recording, RecordingSet, SupervisionSet
from tqdm import tqdm

from hent_srt.data.corpora.manifests import (
    CorpusError,
    DropCounter,
    SplitManifests,
    check_expected_count,
    fit_to_recordings,
    require_dir,
    require_file,
    segment_texts,
    write_splits,
)
from hent_srt.data.corpora.sphere import sphere_recording
from hent_srt.data.corpora.textfile import read_lines
from hent_srt.data.schema import make_supervision
from hent_srt.data.text import normalize_lc_rm

__all__ = [
    "CALLHOME_SPLITS",
    "CORPUS",
    "EVALUATION_SPLITS",
    "EXPECTED_SEGMENTS",
    "FISHER_SPLITS",
    "MULTI_REFERENCE_SPLITS",
    "TranscriptLine",
    "prepare_fisher_callhome",
    "read_callhome_transcript",
    "read_fisher_transcript",
    "read_mapping",
    "strip_ldc_markup",
]

CORPUS = "fisher_callhome"
FISHER_SPLITS = ("fisher_train", "fisher_dev", "fisher_dev2", "fisher_test")
CALLHOME_SPLITS = ("callhome_train", "callhome_devtest", "callhome_evltest")
MULTI_REFERENCE_SPLITS = ("fisher_dev", "fisher_dev2", "fisher_test")
EVALUATION_SPLITS = ("fisher_dev", "fisher_dev2", "fisher_test", "callhome_devtest", "callhome_evltest")
NUM_REFERENCES = 4
EXPECTED_SEGMENTS = {
    "fisher_train": 138_819,
    "fisher_dev": 3_979,
    "fisher_dev2": 3_961,
    "fisher_test": 3_641,
    "callhome_train": 15_080,
    "callhome_devtest": 3_966,
    "callhome_evltest": 1_829,
}
LANGUAGE = "es"

logger = logging.getLogger(__name__)

# Lines whose channel field is wrong in LDC2010T04, as found by lhotse's fisher_spanish_st recipe:
# (transcript stem, line id) -> channel.
FISHER_CHANNEL_ERRATA = {("20050930_180411_157_fsp", 2): 0, ("20051225_192042_872_fsp", 1): 0}
FISHER_ENCODINGS = ("utf-8",)
CALLHOME_ENCODINGS = ("utf-8", "iso-8859-1")

_TRANSLATION_FIX = (
    "Pass --translation-dir pointing at LDC2014T23 or a checkout of "
    "https://github.com/joshua-decoder/fisher-callhome-corpus (it holds mapping/ and corpus/ldc/)."
)
_CALLHOME_LINE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s+(\d+(?:\.\d*)?)\s+(\S+?):?(?:\s+(.*))?$")
_MARKUP_CHARS = re.compile(r"[()+*/#]")
_MARKUP_SPANS = re.compile(r"<[^>]*>|\{[^}]*\}|\[[^\]]*\]")


@dataclass(frozen=True)
class TranscriptLine:
    """One utterance line of an LDC transcript: times in seconds, channel 0 (side A) or 1 (side B)."""

    start: float
    end: float
    channel: int
    text: str


def strip_ldc_markup(text: str) -> str:
    """Post et al.'s markup stripping: drop ``( ) + * / #``, ``<tags>``, ``{...}`` and ``[...]``; squeeze spaces.

    Tags are removed but the words between an opening and a closing tag are kept.
    """
    text = _MARKUP_CHARS.sub("", text)
    text = _MARKUP_SPANS.sub("", text)
    return " ".join(text.split())


def read_fisher_transcript(path: Path) -> list[TranscriptLine | str]:
    """The numbered lines of a Fisher ``.tdf`` (index ``i`` = line id ``i + 1``), header lines skipped.

    A line that cannot be parsed is kept as its raw string, so that numbering is unchanged and only a
    mapping that refers to it fails.
    """
    numbered: list[TranscriptLine | str] = []
    for raw in read_lines(path, FISHER_ENCODINGS, "a Fisher Spanish transcript (LDC2010T04)"):
        if ";;MM" in raw or "file;unicode" in raw:
            continue
        parts = raw.split("\t")
        try:
            channel = int(parts[1])
            line = TranscriptLine(float(parts[2]), float(parts[3]), channel, parts[7])
        except (IndexError, ValueError):
            numbered.append(raw)
            continue
        numbered.append(line if channel in (0, 1) else raw)
    return numbered


def read_callhome_transcript(path: Path) -> list[TranscriptLine | str]:
    """The numbered lines of a CALLHOME ``.txt`` (ISO-8859-1; index ``i`` = line id ``i + 1``).

    Every line counts, blank or not; lines that are not ``start end A|B: text`` are kept as raw strings.
    """
    numbered: list[TranscriptLine | str] = []
    for raw in read_lines(path, CALLHOME_ENCODINGS, "a CALLHOME Spanish transcript (LDC96T17)"):
        match = _CALLHOME_LINE.match(raw)
        side = match.group(3).upper() if match else ""
        if not match or side[:1] not in ("A", "B"):
            numbered.append(raw)
            continue
        numbered.append(
            TranscriptLine(
                float(match.group(1)), float(match.group(2)), "AB".index(side[0]), match.group(4) or ""
            )
        )
    return numbered


def read_mapping(path: Path) -> list[tuple[str, list[int]]]:
    """Read ``mapping/<split>``: ``(transcript stem, [line ids])`` per segment, in order."""
    entries = []
    for number, raw in enumerate(read_lines(path, what="a Post et al. mapping file"), start=1):
        parts = raw.split()
        if not parts:
            continue
        try:
            if len(parts) != 2:
                raise ValueError
            ids = [int(i) for i in parts[1].split("_")]
        except ValueError:
            raise CorpusError(
                f"{path}, line {number}: expected '<transcript stem> <line ids joined by _>', got {raw!r}."
            ) from None
        entries.append((parts[0], ids))
    return entries


def _reference_paths(translation_dir: Path, split: str) -> list[Path]:
    ldc = translation_dir / "corpus" / "ldc"
    if split in MULTI_REFERENCE_SPLITS:
        names = [f"{split}.en.{k}" for k in range(NUM_REFERENCES)]
    else:
        names = [f"{split}.en"]
    return [require_file(ldc / name, f"{split} English references", _TRANSLATION_FIX) for name in names]


def _index(directory: Path, suffix: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix.lower() == suffix and path.is_file() and not path.name.startswith("."):
            index.setdefault(path.stem.lower(), path)
    return index


@dataclass
class _Source:
    """Where one of the two corpora lives: audio and transcript indexes, and how to read a transcript."""

    name: str
    audio: dict[str, Path]
    transcripts: dict[str, Path]
    fisher: bool

    def read(self, path: Path) -> list[TranscriptLine | str]:
        return read_fisher_transcript(path) if self.fisher else read_callhome_transcript(path)


def _open_source(name: str, audio_dir: Path | str, transcript_dir: Path | str, fisher: bool) -> _Source:
    catalogue = ("LDC2010S01", "LDC2010T04") if fisher else ("LDC96S35", "LDC96T17")
    option = "fisher" if fisher else "callhome"
    audio_dir = require_dir(
        audio_dir, f"{name} audio", f"Pass --{option}-audio-dir pointing at {catalogue[0]}."
    )
    transcript_dir = require_dir(
        transcript_dir, f"{name} transcripts", f"Pass --{option}-transcript-dir pointing at {catalogue[1]}."
    )
    audio = _index(audio_dir, ".sph")
    transcripts = _index(transcript_dir, ".tdf" if fisher else ".txt")
    if not audio:
        raise CorpusError(
            f"no .sph file under {audio_dir}; expected the {name} audio release {catalogue[0]}."
        )
    if not transcripts:
        raise CorpusError(
            f"no {'.tdf' if fisher else '.txt'} transcript under {transcript_dir}; expected the {name} "
            f"transcript release {catalogue[1]}."
        )
    return _Source(name=name, audio=audio, transcripts=transcripts, fisher=fisher)


def _segment_lines(
    source: _Source, stem: str, ids: list[int], lines: list[TranscriptLine | str], where: str
) -> list[TranscriptLine]:
    path = source.transcripts[stem.lower()]
    chosen = []
    for line_id in ids:
        if not 1 <= line_id <= len(lines):
            raise CorpusError(
                f"{where} refers to line {line_id} of {path}, which has {len(lines)} numbered lines; the mapping "
                "and the transcript release do not match."
            )
        line = lines[line_id - 1]
        if isinstance(line, str):
            raise CorpusError(
                f"{where} refers to line {line_id} of {path}, which is not an utterance line: {line!r}."
            )
        channel = FISHER_CHANNEL_ERRATA.get((stem, line_id), line.channel) if source.fisher else line.channel
        chosen.append(TranscriptLine(line.start, line.end, channel, line.text))
    return chosen


def _prepare_split(
    split: str, source: _Source, translation_dir: Path, normalize: bool, flac_dir: Path | str | None
) -> SplitManifests:
    mapping_path = require_file(translation_dir / "mapping" / split, f"{split} mapping", _TRANSLATION_FIX)
    mapping = read_mapping(mapping_path)
    reference_paths = _reference_paths(translation_dir, split)
    references = [read_lines(p, what="Post et al.'s English references") for p in reference_paths]
    for path, lines in zip(reference_paths, references):
        if len(lines) != len(mapping):
            raise CorpusError(
                f"mismatched line counts: {mapping_path} has {len(mapping)} segments but {path} has "
                f"{len(lines)} lines; expected one English line per mapping line. Use files of the same release."
            )
    drops = DropCounter()
    evaluation = split in EVALUATION_SPLITS
    recordings: dict[str, Recording] = {}
    short_refs = 0
    transcripts: dict[str, list[TranscriptLine | str]] = {}
    supervisions = []
    for index, (stem, ids) in enumerate(tqdm(mapping, desc=f"{CORPUS} {split}", leave=False)):
        where = f"{mapping_path}, line {index + 1}"
        key = stem.lower()
        if key not in source.transcripts:
            raise CorpusError(
                f"{where} names transcript {stem}, which is not in the {source.name} transcripts."
            )
        if key not in source.audio:
            raise CorpusError(
                f"{where} names {stem}, whose audio ({stem}.sph) is not in the {source.name} audio."
            )
        if stem not in recordings:
            recording = sphere_recording(source.audio[key], stem, flac_dir)
            if len(recording.channel_ids) != 2:
                raise CorpusError(
                    f"{source.audio[key]} has {len(recording.channel_ids)} channel(s); expected the two-channel "
                    f"{source.name} release (one side per channel)."
                )
            recordings[stem] = recording
            transcripts[stem] = source.read(source.transcripts[key])
        lines = _segment_lines(source, stem, ids, transcripts[stem], where)
        start, end = min(x.start for x in lines), max(x.end for x in lines)
        released_text = strip_ldc_markup(" ".join(x.text for x in lines))
        released_refs = [r[index] for r in references]
        if normalize:
            text = normalize_lc_rm(released_text)
            refs = [normalize_lc_rm(r) for r in released_refs]
        else:
            text, refs = released_text, [" ".join(r.split()) for r in released_refs]
        kept = segment_texts(end - start, (text, released_text), (refs[0], released_refs[0]), evaluation, drops)
        if kept is None:
            continue
        text, translation = kept
        # only evaluation splits have several references: each is kept as released when normalisation empties it
        further = []
        for r, released in zip(refs[1:], released_refs[1:]):
            if not r and released.strip():
                drops.keep("further reference empty after normalisation (stored as released)")
            further.append(r or " ".join(released.split()))
        kept_refs = [r for r in [translation, *further] if r]
        short_refs += len(kept_refs) < len(refs)
        channel = lines[0].channel
        supervisions.append(
            make_supervision(
                id=f"{stem}-{index:06d}",
                recording_id=stem,
                start=round(start, 4),
                duration=round(end - start, 4),
                channel=channel,
                text=text,
                language=LANGUAGE,
                translation=translation,
                speaker=f"{stem}-{'AB'[channel]}",
                translation_refs=kept_refs if split in MULTI_REFERENCE_SPLITS else None,
            )
        )
    if short_refs:
        logger.info(
            "%s %s: %d segments keep fewer than %d references (empty lines of the release left out)",
            CORPUS,
            split,
            short_refs,
            len(references),
        )
    recording_set = RecordingSet.from_recordings(recordings.values())
    supervision_set = SupervisionSet.from_segments(fit_to_recordings(supervisions, recording_set, drops))
    check_expected_count(CORPUS, split, len(supervision_set), EXPECTED_SEGMENTS[split], drops)
    return recording_set, supervision_set


def prepare_fisher_callhome(
    translation_dir: Path | str,
    output_dir: Path | str | None = None,
    fisher_audio_dir: Path | str | None = None,
    fisher_transcript_dir: Path | str | None = None,
    callhome_audio_dir: Path | str | None = None,
    callhome_transcript_dir: Path | str | None = None,
    splits: Sequence[str] | None = None,
    normalize: bool = True,
    flac_dir: Path | str | None = None,
) -> dict[str, SplitManifests]:
    """Prepare Fisher and/or CALLHOME Spanish–English; return ``{split: (RecordingSet, SupervisionSet)}``.

    ``splits`` defaults to every split of the corpora whose audio and transcript directories are given.
    Each supervision's channel is its speaker's side of the two-channel call (A = 0, B = 1); fisher_dev,
    fisher_dev2 and fisher_test carry all four references in ``custom["translated_refs"]["en"]``. With
    ``output_dir`` the manifests ``fisher_callhome_{recordings,supervisions}_<split>.jsonl.gz`` are written
    (all or nothing).
    """
    has_fisher = fisher_audio_dir is not None or fisher_transcript_dir is not None
    has_callhome = callhome_audio_dir is not None or callhome_transcript_dir is not None
    if splits is None:
        splits = (FISHER_SPLITS if has_fisher else ()) + (CALLHOME_SPLITS if has_callhome else ())
    splits = list(splits)
    known = FISHER_SPLITS + CALLHOME_SPLITS
    unknown = [s for s in splits if s not in known]
    if unknown or not splits:
        raise ValueError(
            f"splits must be a non-empty subset of {', '.join(known)}, got {splits}; give the Fisher and/or "
            "CALLHOME audio and transcript directories."
        )
    translation_dir = require_dir(translation_dir, "Fisher/CALLHOME translations", _TRANSLATION_FIX)
    sources: dict[bool, _Source] = {}
    if any(s in FISHER_SPLITS for s in splits):
        if fisher_audio_dir is None or fisher_transcript_dir is None:
            raise ValueError(
                "fisher_audio_dir and fisher_transcript_dir are both needed for the Fisher splits."
            )
        sources[True] = _open_source("Fisher Spanish", fisher_audio_dir, fisher_transcript_dir, fisher=True)
    if any(s in CALLHOME_SPLITS for s in splits):
        if callhome_audio_dir is None or callhome_transcript_dir is None:
            raise ValueError(
                "callhome_audio_dir and callhome_transcript_dir are both needed for the CALLHOME splits."
            )
        sources[False] = _open_source(
            "CALLHOME Spanish", callhome_audio_dir, callhome_transcript_dir, fisher=False
        )
    manifests = {
        split: _prepare_split(split, sources[split in FISHER_SPLITS], translation_dir, normalize, flac_dir)
        for split in splits
    }
    if output_dir is not None:
        write_splits(output_dir, CORPUS, manifests)
    return manifests
