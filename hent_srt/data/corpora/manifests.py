"""Shared plumbing of the corpus preparations: checked inputs, split manifests written atomically.

Every corpus writes, per split, ``<out>/<corpus>_recordings_<split>.jsonl.gz`` (a lhotse ``RecordingSet``) and
``<out>/<corpus>_supervisions_<split>.jsonl.gz`` (a lhotse ``SupervisionSet`` in the cut schema). All splits are
validated first (lhotse's recording/supervision checks and :func:`hent_srt.data.schema.validate_cuts`), then
written to temporary names and renamed into place, so a failed preparation leaves no manifest behind.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from lhotse import CutSet, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.qa import validate_recordings_and_supervisions

from hent_srt.data.manifest import read_recordings, read_supervisions
from hent_srt.data.schema import validate_cuts
from hent_srt.fileio import atomic_path

__all__ = [
    "CorpusError",
    "DropCounter",
    "SplitManifests",
    "check_expected_count",
    "fit_to_recordings",
    "load_split",
    "manifest_paths",
    "match_by_timing",
    "require_dir",
    "require_file",
    "segment_texts",
    "write_manifests",
    "write_splits",
]

logger = logging.getLogger(__name__)

SplitManifests = tuple[RecordingSet, SupervisionSet]


class CorpusError(ValueError):
    """A problem with the corpus on disk that the user can fix; the message names the file and the fix."""


def require_dir(path: Path | str, what: str, fix: str) -> Path:
    """Return ``path`` as a ``Path`` if it is a directory, else raise ``CorpusError`` naming it and ``fix``."""
    path = Path(path)
    if not path.is_dir():
        raise CorpusError(f"{what}: directory {path} does not exist.\n{fix}")
    return path


def require_file(path: Path | str, what: str, fix: str) -> Path:
    """Return ``path`` as a ``Path`` if it is a file, else raise ``CorpusError`` naming it and ``fix``."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{what}: file {path} does not exist.\n{fix}")
    return path


def manifest_paths(output_dir: Path | str, corpus: str, split: str) -> tuple[Path, Path]:
    """The (recordings, supervisions) manifest paths of ``split`` of ``corpus`` under ``output_dir``."""
    output_dir = Path(output_dir)
    return (
        output_dir / f"{corpus}_recordings_{split}.jsonl.gz",
        output_dir / f"{corpus}_supervisions_{split}.jsonl.gz",
    )


def load_split(manifest_dir: Path | str, corpus: str, split: str) -> SplitManifests:
    """Read the manifests of one prepared split; ``CorpusError`` when either file is missing."""
    rec_path, sup_path = manifest_paths(manifest_dir, corpus, split)
    fix = f"Run stage 0 of egs/{corpus} first (it writes {rec_path.name} and {sup_path.name})."
    require_file(rec_path, f"{corpus} {split} recordings", fix)
    require_file(sup_path, f"{corpus} {split} supervisions", fix)
    return read_recordings(rec_path), read_supervisions(sup_path)


@dataclass
class DropCounter:
    """Counts segments left out of a split, by reason, and texts kept as released, for the summary line."""

    counts: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int = 1) -> None:
        """Record ``n`` more segments dropped for ``reason``."""
        self.counts[reason] = self.counts.get(reason, 0) + n

    def keep(self, reason: str, n: int = 1) -> None:
        """Record ``n`` more segments kept although ``reason`` (e.g. a reference of punctuation only)."""
        self.kept[reason] = self.kept.get(reason, 0) + n

    def total(self) -> int:
        """Number of dropped segments over all reasons."""
        return sum(self.counts.values())

    def describe(self) -> str:
        """``"none"`` or ``"3 empty transcript, 1 zero duration"``, then what was kept as released, if any."""
        dropped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items())) or "none"
        if not self.kept:
            return dropped
        return dropped + "; kept: " + ", ".join(f"{n} {reason}" for reason, n in sorted(self.kept.items()))


def _stored_text(normalized: str, released: str, evaluation: bool, kind: str, drops: DropCounter) -> str:
    if normalized:
        return normalized
    released = " ".join(released.split())
    if not released:
        drops.add(f"empty {kind}")
        return ""
    reason = f"{kind} empty after normalisation"
    if evaluation:
        drops.keep(f"{reason} (stored as released)")
        return released
    drops.add(reason)
    return ""


def segment_texts(
    duration: float,
    transcript: tuple[str, str],
    translation: tuple[str, str],
    evaluation: bool,
    drops: DropCounter,
) -> tuple[str, str] | None:
    """The (transcript, translation) a segment stores, or None when it is left out (``drops`` says why).

    ``transcript`` and ``translation`` are each (normalised text, released text). A segment without a positive
    ``duration`` or with an empty released text is left out. When normalisation leaves nothing of a released
    text (a reference made of punctuation only, such as ``--`` or ``]``), an evaluation split keeps the segment
    with the released text, white space squeezed: it is still a reference, the published split sizes count it,
    and scoring, which applies the same normaliser, reads it as the empty string. A training split drops it.
    """
    if not duration > 0:
        drops.add("non-positive duration")
        return None
    text = _stored_text(*transcript, evaluation, "transcript", drops)
    if not text:
        return None
    target = _stored_text(*translation, evaluation, "translation", drops)
    if not target:
        return None
    return text, target


def fit_to_recordings(
    supervisions: Iterable[SupervisionSegment], recordings: RecordingSet, drops: DropCounter
) -> list[SupervisionSegment]:
    """Clip supervision ends to their recording's duration; drop those starting at or after its end.

    LDC time stamps can run a few milliseconds past the end of the audio; lhotse rejects such supervisions.
    """
    kept = []
    for sup in supervisions:
        duration = recordings[sup.recording_id].duration
        if sup.start >= duration:
            drops.add("starting after the end of the audio")
            continue
        if sup.end > duration:
            sup = dataclasses.replace(sup, duration=round(duration - sup.start, 6))
        kept.append(sup)
    return kept


class _Timed(Protocol):
    start: float
    end: float


T = TypeVar("T", bound=_Timed)
U = TypeVar("U", bound=_Timed)


def match_by_timing(
    left: Sequence[T], right: Sequence[U], tolerance: float
) -> tuple[list[tuple[T, U]], list[T], list[U]]:
    """Pair items of ``left`` and ``right`` whose start and end times agree within ``tolerance`` seconds.

    Each item is used at most once; among candidates the one with the smallest
    ``|start - start'| + |end - end'|`` wins, ``left`` taken in order. Returns the pairs (in ``left`` order)
    and the unmatched items of each side.
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 seconds, got {tolerance}.")
    order = sorted(range(len(right)), key=lambda i: right[i].start)
    starts = [right[i].start for i in order]
    used = [False] * len(right)
    pairs, left_over = [], []
    for item in left:
        best, best_error = None, None
        for k in range(bisect.bisect_left(starts, item.start - tolerance), len(order)):
            if starts[k] > item.start + tolerance:
                break
            i = order[k]
            if used[i] or abs(right[i].end - item.end) > tolerance:
                continue
            error = abs(right[i].start - item.start) + abs(right[i].end - item.end)
            if best_error is None or error < best_error:
                best, best_error = i, error
        if best is None:
            left_over.append(item)
        else:
            used[best] = True
            pairs.append((item, right[best]))
    return pairs, left_over, [right[i] for i in range(len(right)) if not used[i]]


def check_expected_count(
    corpus: str, split: str, actual: int, expected: int | None, drops: DropCounter
) -> str:
    """Compare a split's segment count with the published one; log and return a one-line summary.

    A mismatch is logged as a warning giving the difference; it is not an error, since releases and
    corrections of the corpora differ slightly.
    """
    dropped = drops.describe()
    if expected is None:
        message = f"{corpus} {split}: {actual} segments (dropped: {dropped})"
        logger.info(message)
        return message
    diff = actual - expected
    if diff == 0:
        message = f"{corpus} {split}: {actual} segments, as published (dropped: {dropped})"
        logger.info(message)
    else:
        message = (
            f"{corpus} {split}: {actual} segments, published {expected} (difference {diff:+d}; "
            f"dropped: {dropped})"
        )
        logger.warning(message)
    return message


def _validate_split(corpus: str, split: str, recordings: RecordingSet, supervisions: SupervisionSet) -> None:
    if len(supervisions) == 0:
        raise CorpusError(
            f"{corpus} {split}: no segment survived preparation; check that the split lists and the corpus "
            "directory belong to the same release."
        )
    validate_recordings_and_supervisions(recordings, supervisions)
    validate_cuts(CutSet.from_manifests(recordings=recordings, supervisions=supervisions))


def write_manifests(items: Sequence[tuple[RecordingSet | SupervisionSet | CutSet, Path]]) -> None:
    """Write each ``(manifest, path)`` to a unique temporary name beside ``path``, then rename them all.

    Nothing is renamed until every manifest is written, and no temporary file is left behind on failure.
    """
    with contextlib.ExitStack() as renames:  # the renames happen as the stack unwinds without an error
        for manifest, final in items:
            temp = renames.enter_context(atomic_path(final, keep_suffix=True))
            manifest.to_file(temp)


def write_splits(output_dir: Path | str, corpus: str, splits: Mapping[str, SplitManifests]) -> None:
    """Validate every split, then write all manifests atomically (:func:`write_manifests`).

    Validation of all splits happens before anything is written, so an invalid split leaves the output
    directory as it was.
    """
    for split, (recordings, supervisions) in splits.items():
        _validate_split(corpus, split, recordings, supervisions)
    items = []
    for split, (recordings, supervisions) in splits.items():
        rec_path, sup_path = manifest_paths(output_dir, corpus, split)
        items += [(recordings, rec_path), (supervisions, sup_path)]
    write_manifests(items)
