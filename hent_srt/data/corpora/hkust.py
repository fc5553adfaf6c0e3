"""HKUST Mandarin telephone speech (LDC2005S15 audio, LDC2005T32 transcripts) with English translations.

Inputs (files are found by name at any depth inside each release):

- audio: ``.../audio/{train,dev}/<call>.sph`` (two-channel, 8 kHz; side A = channel 0, side B = channel 1),
  ``<call>`` like ``20040503_222707_A000687_B000688``;
- transcripts: ``.../trans/{train,dev}/<call>.txt`` (GBK, read as its superset GB18030; a copy converted to
  UTF-8 is recognised), lines ``start end A: text`` or ``... B: text`` (blanks or tabs between the fields);
  ``#`` lines and blank lines are skipped, other lines that do not parse are counted and logged;
- translations (Wotherspoon et al. 2024, arXiv 2404.11619), whose release format is not public, as one
  UTF-8 tab-separated file (a byte-order mark and CRLF are fine), a line per segment (``#`` lines and blank
  lines skipped)::

      <call>\\t<side A|B (or 0|1)>\\t<start seconds>\\t<end seconds>\\t<English>

  A translation line belongs to the transcript line of the same call and side whose start and end agree
  within ``tolerance``.

The split (train or dev) is the name of the directory the transcript and audio sit in. Transcript markup
(``{breath}``-style events, ``<noise>``/``<foreign>`` tags, ``((uncertain))`` brackets, ``%`` and ``~``
marks) is removed, keeping the spoken words; with ``normalize`` the Mandarin gets
:func:`~hent_srt.data.text.normalize_mandarin` and the English :func:`~hent_srt.data.text.normalize_lc_rm`.
The dev split, HKUST's test set, keeps a text that normalisation leaves empty as released
(:func:`~hent_srt.data.corpora.manifests.segment_texts`); train drops it. Files are read with
:func:`~hent_srt.data.corpora.textfile.read_lines` (lines end at ``\n`` only).
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
    match_by_timing,
    require_dir,
    require_file,
    segment_texts,
    write_splits,
)
from hent_srt.data.corpora.sphere import sphere_recording
from hent_srt.data.corpora.textfile import read_lines
from hent_srt.data.schema import make_supervision
from hent_srt.data.text import normalize_lc_rm, normalize_mandarin

__all__ = [
    "CORPUS",
    "EVALUATION_SPLITS",
    "SPLITS",
    "HkustLine",
    "prepare_hkust",
    "read_hkust_transcript",
    "read_translations",
    "strip_hkust_markup",
]

CORPUS = "hkust"
SPLITS = ("train", "dev")
EVALUATION_SPLITS = ("dev",)
LANGUAGE = "zh"
TIME_TOLERANCE = 0.01
TRANSCRIPT_ENCODINGS = ("utf-8", "gb18030")

logger = logging.getLogger(__name__)

_TRANSLATION_FIX = (
    "Pass --translation-tsv pointing at a UTF-8 file with lines "
    "'<call><TAB><A|B><TAB><start><TAB><end><TAB><English>' (see egs/hkust/README.md)."
)
_LINE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s+(\d+(?:\.\d*)?)\s+([AB]):?(?:\s+(.*))?$")
_EVENTS = re.compile(r"\{[^}]*\}|\[[^\]]*\]|<[^>]*>")
_MARKS = re.compile(r"\(\(|\)\)|%|~(?=[A-Za-z])")


@dataclass(frozen=True)
class HkustLine:
    """A timed line of a call side: a transcript utterance or a translation (``line`` is 1-based)."""

    call: str
    channel: int
    start: float
    end: float
    text: str
    line: int


def strip_hkust_markup(text: str) -> str:
    """Remove HKUST transcription markup, keeping spoken words; squeeze spaces.

    ``{laugh}``/``[noise]`` events and ``<tags>`` go; the words inside ``((…))`` and between tags stay;
    ``%`` (filler) and ``~`` (spelled letter) marks go.
    """
    return " ".join(_MARKS.sub("", _EVENTS.sub(" ", text)).split())


def read_hkust_transcript(path: Path) -> list[HkustLine]:
    """The utterance lines of one HKUST transcript (GBK); the call id is the file stem.

    Lines that are neither blank, ``#`` comments nor ``start end A|B: text`` are left out and logged.
    """
    lines, unparsed = [], []
    for number, raw in enumerate(read_lines(path, TRANSCRIPT_ENCODINGS, "an HKUST transcript (LDC2005T32)"), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _LINE.match(raw)
        if match:
            start, end, side, text = match.groups()
            lines.append(HkustLine(path.stem, "AB".index(side), float(start), float(end), text or "", number))
        else:
            unparsed.append(number)
    if unparsed:
        logger.warning(
            "%s: %d line(s) are not 'start end A|B: text' and are left out (first: line %d)",
            path,
            len(unparsed),
            unparsed[0],
        )
    return lines


def _parse_channel(value: str) -> int:
    value = value.strip().upper()
    if value in ("A", "0"):
        return 0
    if value in ("B", "1"):
        return 1
    raise ValueError(value)


def read_translations(path: Path | str) -> dict[tuple[str, int], list[HkustLine]]:
    """Read the translation TSV into ``{(call, channel): [lines]}``; ``CorpusError`` naming a bad line."""
    path = require_file(path, "HKUST translations", _TRANSLATION_FIX)
    table: dict[tuple[str, int], list[HkustLine]] = {}
    for number, raw in enumerate(read_lines(path, what="the HKUST translation TSV"), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        try:
            if len(parts) != 5:
                raise ValueError
            line = HkustLine(
                parts[0].strip(), _parse_channel(parts[1]), float(parts[2]), float(parts[3]), parts[4].strip(), number
            )
        except ValueError:
            raise CorpusError(
                f"{path}, line {number}: expected 5 tab-separated fields "
                f"'<call> <A|B> <start> <end> <English>', got {raw!r}.\n{_TRANSLATION_FIX}"
            ) from None
        table.setdefault((line.call, line.channel), []).append(line)
    return table


def _split_of(path: Path, root: Path) -> str | None:
    parts = [p.lower() for p in path.relative_to(root).parts[:-1]]
    for split in SPLITS:
        if split in parts:
            return split
    return None


def _index(root: Path, suffix: str) -> dict[str, dict[str, Path]]:
    index: dict[str, dict[str, Path]] = {split: {} for split in SPLITS}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() != suffix or not path.is_file() or path.name.startswith("."):
            continue
        split = _split_of(path, root)
        if split is not None:
            index[split].setdefault(path.stem, path)
    return index


def _call_supervisions(
    path: Path,
    translations: dict[tuple[str, int], list[HkustLine]],
    used: set[tuple[str, int]],
    normalize: bool,
    allow_untranslated: bool,
    tolerance: float,
    evaluation: bool,
    drops: DropCounter,
    translation_path: Path,
) -> list:
    supervisions = []
    transcript = read_hkust_transcript(path)
    for channel in (0, 1):
        key = (path.stem, channel)
        used.add(key)
        side = [x for x in transcript if x.channel == channel]
        pairs, untranslated, orphans = match_by_timing(side, translations.get(key, []), tolerance)
        if orphans:
            raise CorpusError(
                f"{translation_path}, line {orphans[0].line}: no line of {path} (side {'AB'[channel]}) has the "
                f"times {orphans[0].start:.3f}-{orphans[0].end:.3f} s (tolerance {tolerance} s); expected every "
                "translation to match one transcript line."
            )
        spoken = [x for x in untranslated if strip_hkust_markup(x.text)]
        if spoken and not allow_untranslated:
            raise CorpusError(
                f"{path}, line {spoken[0].line}: transcript segment {spoken[0].start:.3f}-{spoken[0].end:.3f} s "
                f"(side {'AB'[channel]}) has no translation in {translation_path}; expected one per segment "
                "(or pass --allow-untranslated to leave such segments out)."
            )
        if untranslated:
            drops.add("without translation", len(untranslated))
        for src, tgt in pairs:
            released_text = strip_hkust_markup(src.text)
            text, translation = released_text, " ".join(tgt.text.split())
            if normalize:
                text, translation = normalize_mandarin(text), normalize_lc_rm(translation)
            kept = segment_texts(
                src.end - src.start, (text, released_text), (translation, tgt.text), evaluation, drops
            )
            if kept is None:
                continue
            text, translation = kept
            supervisions.append(
                make_supervision(
                    id=f"{path.stem}-{'AB'[channel]}-{round(src.start * 1000):07d}",
                    recording_id=path.stem,
                    start=round(src.start, 3),
                    duration=round(src.end - src.start, 3),
                    channel=channel,
                    text=text,
                    language=LANGUAGE,
                    translation=translation,
                    speaker=f"{path.stem}-{'AB'[channel]}",
                )
            )
    return supervisions


def prepare_hkust(
    audio_dir: Path | str,
    transcript_dir: Path | str,
    translation_tsv: Path | str,
    output_dir: Path | str | None = None,
    splits: Sequence[str] = SPLITS,
    normalize: bool = True,
    allow_untranslated: bool = False,
    flac_dir: Path | str | None = None,
    tolerance: float = TIME_TOLERANCE,
) -> dict[str, SplitManifests]:
    """Prepare HKUST Mandarin–English; return ``{split: (RecordingSet, SupervisionSet)}``.

    Every transcript segment with speech needs a translation line unless ``allow_untranslated``, and every
    translation line must match a transcript segment. With ``output_dir`` the manifests
    ``hkust_{recordings,supervisions}_<split>.jsonl.gz`` are written (all or nothing).
    """
    splits = list(splits)
    if not splits or any(s not in SPLITS for s in splits):
        raise ValueError(f"splits must be a non-empty subset of {', '.join(SPLITS)}, got {splits}.")
    audio_dir = require_dir(audio_dir, "HKUST audio", "Pass --audio-dir pointing at LDC2005S15.")
    transcript_dir = require_dir(
        transcript_dir, "HKUST transcripts", "Pass --transcript-dir pointing at LDC2005T32."
    )
    translation_tsv = Path(translation_tsv)
    translations = read_translations(translation_tsv)
    audio, transcripts = _index(audio_dir, ".sph"), _index(transcript_dir, ".txt")
    used: set[tuple[str, int]] = set()
    manifests: dict[str, SplitManifests] = {}
    for split in splits:
        if not transcripts[split]:
            raise CorpusError(
                f"no transcript under {transcript_dir} in a '{split}' directory; expected "
                f"trans/{split}/<call>.txt from LDC2005T32."
            )
        drops = DropCounter()
        recordings: list[Recording] = []
        supervisions = []
        for call, path in tqdm(sorted(transcripts[split].items()), desc=f"{CORPUS} {split}", leave=False):
            if call not in audio[split]:
                raise CorpusError(
                    f"transcript {path} has no audio: expected {call}.sph under an audio/{split} directory of "
                    f"{audio_dir}."
                )
            recording = sphere_recording(audio[split][call], call, flac_dir)
            if len(recording.channel_ids) != 2:
                raise CorpusError(
                    f"{audio[split][call]} has {len(recording.channel_ids)} channel(s); expected two (sides A, B)."
                )
            recordings.append(recording)
            supervisions.extend(
                _call_supervisions(
                    path,
                    translations,
                    used,
                    normalize,
                    allow_untranslated,
                    tolerance,
                    split in EVALUATION_SPLITS,
                    drops,
                    translation_tsv,
                )
            )
        recording_set = RecordingSet.from_recordings(recordings)
        supervision_set = SupervisionSet.from_segments(fit_to_recordings(supervisions, recording_set, drops))
        check_expected_count(CORPUS, split, len(supervision_set), None, drops)
        manifests[split] = (recording_set, supervision_set)
    if len(splits) == len(SPLITS):
        unknown = sorted(set(translations) - used)
        if unknown:
            call, channel = unknown[0]
            raise CorpusError(
                f"{translation_tsv}, line {translations[unknown[0]][0].line}: call {call} side {'AB'[channel]} "
                "has no transcript in the train or dev directories; expected translations of LDC2005T32 calls only."
            )
    if output_dir is not None:
        write_splits(output_dir, CORPUS, manifests)
    return manifests
