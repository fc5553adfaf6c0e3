"""MUSAN (Snyder et al. 2015, openslr.org/17) as lhotse manifests for noise mixing in training.

Input: the unpacked ``musan/`` directory, one folder per part, each holding sources with wav files and an
``ANNOTATIONS`` file (a line per wav: its id, then metadata, blank-separated)::

    musan/noise/{free-sound,sound-bible}/noise-free-sound-0000.wav ... ANNOTATIONS
    musan/music/{fma,fma-western-art,hd-classical,jamendo,rfm}/music-fma-0000.wav ... ANNOTATIONS
    musan/speech/{librivox,us-gov}/speech-librivox-0000.wav ... ANNOTATIONS

Output, in ``out_dir`` (written atomically, all or nothing):

- ``musan_recordings_<part>.jsonl.gz``: one lhotse ``RecordingSet`` per part (noise and music by default, as
  the published recipe mixes; speech on request), made by lhotse's MUSAN recipe
  (every wav under the part, each named in the error when it cannot be read as audio);
- ``musan_cuts.jsonl.gz``: a ``CutSet`` of those recordings without supervisions, each recording cut into
  windows of at most ``window`` seconds (id ``<recording id>-<k>``), windows shorter than ``min_window``
  dropped: the noise that training mixes in.

lhotse's recipe also reads the music ``ANNOTATIONS`` into supervisions (genres, vocals); they are not needed to
mix noise and are not made. The ``ANNOTATIONS`` files are read here, with
:func:`~hent_srt.data.corpora.textfile.read_lines`, only to check that the tree is complete: every id they list
must have its wav (an interrupted download or extraction otherwise goes unnoticed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from lhotse import CutSet, Recording, RecordingSet
from lhotse.qa import validate

from hent_srt.data.corpora.manifests import CorpusError, require_dir, write_manifests
from hent_srt.data.corpora.textfile import read_lines

__all__ = [
    "CUTS_NAME",
    "DEFAULT_PARTS",
    "PARTS",
    "check_annotations",
    "cuts_path",
    "prepare_musan",
    "recordings_path",
]

logger = logging.getLogger(__name__)

PARTS = ("noise", "music", "speech")
DEFAULT_PARTS = ("noise", "music")
CUTS_NAME = "musan_cuts.jsonl.gz"
WINDOW_SECONDS = 10.0
MIN_WINDOW_SECONDS = 1.0

_FIX = (
    "Pass --corpus-dir pointing at the unpacked MUSAN corpus (openslr.org/17, musan.tar.gz), the directory "
    "that holds noise/, music/ and speech/."
)


def recordings_path(out_dir: Path | str, part: str) -> Path:
    """``<out_dir>/musan_recordings_<part>.jsonl.gz``."""
    return Path(out_dir) / f"musan_recordings_{part}.jsonl.gz"


def cuts_path(out_dir: Path | str) -> Path:
    """``<out_dir>/musan_cuts.jsonl.gz``."""
    return Path(out_dir) / CUTS_NAME


def check_annotations(part_dir: Path) -> int:
    """Check that every id listed by the ``ANNOTATIONS`` files under ``part_dir`` has its wav; return the count.

    Raises ``CorpusError`` naming the ``ANNOTATIONS`` file and the first missing wav.
    """
    listed = 0
    for listing in sorted(part_dir.rglob("ANNOTATIONS")):
        ids = [line.split()[0] for line in read_lines(listing, what="a MUSAN ANNOTATIONS file") if line.strip()]
        missing = [i for i in ids if not (listing.parent / f"{i}.wav").is_file()]
        if missing:
            raise CorpusError(
                f"{listing} lists {len(missing)} file(s) that are not there, e.g. "
                f"{listing.parent / missing[0]}.wav; the MUSAN tree is incomplete. Extract musan.tar.gz again."
            )
        listed += len(ids)
    return listed


def scan_recordings(part_dir: Path) -> list[Recording]:
    """A recording of every ``*.wav`` under ``part_dir`` (id: the file name); CorpusError naming a file that is
    not audio."""
    recordings = []
    for path in sorted(part_dir.rglob("*.wav")):
        try:
            recordings.append(Recording.from_file(path))
        except Exception as err:  # audio back ends raise many types for unreadable files
            first_line = next(iter(str(err).splitlines()), type(err).__name__)
            raise CorpusError(f"MUSAN: {path} cannot be read as audio ({first_line}); replace it with the "
                              "corpus's file or remove it") from None
    return recordings


def _part_recordings(corpus_dir: Path, part: str) -> RecordingSet:
    hint = ""
    if (corpus_dir / "musan" / part).is_dir():
        hint = f" (it is in {corpus_dir / 'musan'}: pass that directory)"
    part_dir = require_dir(corpus_dir / part, f"MUSAN {part}", _FIX + hint)
    if not any(part_dir.rglob("*.wav")):
        raise CorpusError(f"MUSAN {part}: no .wav file under {part_dir}.\n{_FIX}")
    listed = check_annotations(part_dir)
    recordings = RecordingSet.from_recordings(scan_recordings(part_dir))
    validate(recordings)
    if listed < len(recordings):
        unlisted = len(recordings) - listed
        logger.info("MUSAN %s: %d of %d wav files are in no ANNOTATIONS file", part, unlisted, len(recordings))
    return RecordingSet.from_recordings(sorted(recordings, key=lambda r: r.id))


def _windows(recordings: Sequence[RecordingSet], window: float, min_window: float) -> CutSet:
    cuts = CutSet.from_cuts(recording.to_cut() for part in recordings for recording in part)
    return CutSet.from_cuts(cut for cut in cuts.cut_into_windows(duration=window) if cut.duration >= min_window)


def prepare_musan(
    corpus_dir: Path | str,
    out_dir: Path | str | None = None,
    parts: Sequence[str] = DEFAULT_PARTS,
    window: float = WINDOW_SECONDS,
    min_window: float = MIN_WINDOW_SECONDS,
) -> tuple[dict[str, RecordingSet], CutSet]:
    """Recordings of each MUSAN part in ``parts`` and the cut windows of all of them (see the module docstring).

    With ``out_dir`` the manifests are written there. Raises ``CorpusError`` naming the missing directory when
    ``corpus_dir`` is not a MUSAN tree, and ``ValueError`` for bad arguments.
    """
    parts = list(dict.fromkeys(parts))
    if not parts or any(p not in PARTS for p in parts):
        raise ValueError(f"parts must be a non-empty subset of {', '.join(PARTS)}, got {parts}.")
    if not 0 < min_window <= window:
        raise ValueError(f"need 0 < min_window <= window seconds, got min_window={min_window}, window={window}.")
    corpus_dir = require_dir(corpus_dir, "MUSAN corpus", _FIX).resolve()
    recordings = {part: _part_recordings(corpus_dir, part) for part in parts}
    ids = [r.id for part in recordings.values() for r in part]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise CorpusError(f"MUSAN: two wav files are named {duplicate}.wav under {corpus_dir}; ids must be unique.")
    cuts = _windows(list(recordings.values()), window, min_window)
    if len(cuts) == 0:
        raise CorpusError(f"MUSAN: no recording under {corpus_dir} lasts {min_window} s or more.")
    for part, recs in recordings.items():
        logger.info("MUSAN %s: %d recordings, %.1f minutes", part, len(recs), sum(r.duration for r in recs) / 60)
    logger.info("MUSAN: %d windows of at most %g s", len(cuts), window)
    if out_dir is not None:
        items = [(recs, recordings_path(out_dir, part)) for part, recs in recordings.items()]
        write_manifests(items + [(cuts, cuts_path(out_dir))])
    return recordings, cuts
