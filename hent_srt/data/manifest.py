"""Reading lhotse cut manifests (``.jsonl`` / ``.jsonl.gz``) lazily, with errors that name the file and line.

``read_cuts(path)`` returns a lazy ``CutSet``: nothing is read until it is iterated, and each iteration reads the
file again from the start, one line at a time, so memory does not grow with the manifest. Feature storage paths
that are relative are resolved against the manifest's directory (``hent-srt features`` writes them so, and the
manifest then works from any working directory and after its directory is moved); a relative path that only
exists from the current directory (manifests written before that convention) is used as it is.

``read_recordings`` and ``read_supervisions`` read the recording and supervision manifests of stage 0 the same
way (eagerly: they are small). A line that is not UTF-8, not JSON or not an item of the expected kind, and a
truncated or corrupt gzip stream, raise ``ManifestError`` naming the file and the line.

``check_feature_storage`` makes sure that the feature archives the cuts point at exist, so that a manifest
separated from its ``feats_*`` directory is named before any work rather than in the middle of it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.cut import Cut
from lhotse.serialization import deserialize_item

__all__ = [
    "ManifestError", "ManifestReader", "check_feature_storage", "file_digest", "read_cuts", "read_recordings",
    "read_supervisions",
]

_REGENERATE = "fix the file or regenerate it with the step that wrote it"


class ManifestError(ValueError):
    """A manifest file that cannot be read; the message names the file, the line and the fix."""


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def file_digest(path: str | Path, content: bool = False) -> str:
    """SHA-256 (hex) of the file's bytes; with ``content``, of the decompressed bytes of a gzip file (which do
    not change when the same manifest is written again, unlike the gzip header's time stamp)."""
    path = Path(path)
    sha = hashlib.sha256()
    opener = gzip.open if content and _is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ManifestError(f"{path}: the gzip stream is truncated or corrupt ({err}); {_REGENERATE}") from None
    return sha.hexdigest()


_CUT_TYPES = ("MonoCut", "MixedCut", "MultiCut")


def _is_cut(data: dict) -> bool:
    return data.get("type") in _CUT_TYPES


def _is_recording(data: dict) -> bool:
    return "sources" in data and "sampling_rate" in data


def _is_supervision(data: dict) -> bool:
    return "recording_id" in data and "start" in data and "sources" not in data and not _is_cut(data)


# kind -> (recognises an item, builds it, what the manifest should be instead)
_KINDS: dict[str, tuple[Callable[[dict], bool], Callable[[dict], Any], str]] = {
    "cut": (_is_cut, deserialize_item, "pass a cut manifest (cuts_*.jsonl.gz), not a recording or supervision "
                                       "manifest"),
    "recording": (_is_recording, Recording.from_dict, "pass a recording manifest (*_recordings_*.jsonl.gz)"),
    "supervision": (_is_supervision, SupervisionSegment.from_dict,
                    "pass a supervision manifest (*_supervisions_*.jsonl.gz)"),
}


class ManifestReader:
    """A re-iterable stream of the items (cuts by default) of one manifest file (see the module docstring)."""

    def __init__(self, path: str | Path, kind: str = "cut") -> None:
        self.path = Path(path)
        self.base = self.path.resolve().parent
        self.kind = kind
        self._resolved: dict[str, str] = {}

    def _open(self) -> BinaryIO:
        if not self.path.is_file():
            raise ManifestError(f"{self.path}: no such manifest file; check the path (which stage writes it?)")
        return gzip.open(self.path, "rb") if _is_gzip(self.path) else open(self.path, "rb")

    def _storage_path(self, raw: str) -> str:
        """``raw`` resolved against the manifest's directory (cached: manifests name few archives)."""
        resolved = self._resolved.get(raw)
        if resolved is None:
            path = Path(raw)
            if path.is_absolute():
                resolved = raw
            elif (self.base / path).exists() or not path.exists():
                resolved = str(self.base / path)
            else:
                resolved = raw  # relative to the working directory (manifests of older versions)
            self._resolved[raw] = resolved
        return resolved

    def _json(self, line: bytes, number: int) -> dict:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ManifestError(f"{self.path}: line {number} is not UTF-8 text ({err}); {_REGENERATE}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ManifestError(
                f"{self.path}: line {number} is not valid JSON ({err.msg} at column {err.colno}); {_REGENERATE}"
            ) from None
        recognised, _, instead = _KINDS[self.kind]
        if not isinstance(data, dict) or not recognised(data):
            raise ManifestError(f"{self.path}: line {number} is not a lhotse {self.kind}; {instead}")
        return data

    def _item(self, line: bytes, number: int) -> Any:
        data = self._json(line, number)
        features = data.get("features")
        if isinstance(features, dict) and isinstance(features.get("storage_path"), str):
            features["storage_path"] = self._storage_path(features["storage_path"])
        try:
            return _KINDS[self.kind][1](data)
        except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as err:
            raise ManifestError(
                f"{self.path}: line {number} is not a valid lhotse {self.kind} ({type(err).__name__}: {err}); "
                f"{_REGENERATE}"
            ) from None

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of the non-empty lines."""
        number = 0
        with self._open() as f:
            try:
                for number, line in enumerate(f, start=1):
                    if line.strip():
                        yield number, line
            except (EOFError, gzip.BadGzipFile, zlib.error) as err:
                raise ManifestError(
                    f"{self.path}: the gzip stream is truncated or corrupt after line {number} ({err}); "
                    f"{_REGENERATE}"
                ) from None

    def __iter__(self) -> Iterator[Any]:
        for number, line in self._lines():
            yield self._item(line, number)

    def durations(self) -> Iterator[float]:
        """The cuts' durations in file order, read from the JSON alone (no cut objects are built: a sixth of
        the cost of iterating the cuts)."""
        for number, line in self._lines():
            duration = self._json(line, number).get("duration")
            if not isinstance(duration, (int, float)):
                raise ManifestError(f"{self.path}: line {number} has no numeric 'duration'; {_REGENERATE}")
            yield float(duration)

    def __len__(self) -> int:
        """The number of items: a pass over the file that counts its non-empty lines (nothing is parsed)."""
        return sum(1 for _ in self._lines())

    def __repr__(self) -> str:
        return f"ManifestReader({str(self.path)!r})"


def _reader(path: str | Path, kind: str) -> ManifestReader:
    reader = ManifestReader(path, kind)
    if reader.path.is_dir():
        raise ManifestError(f"{reader.path} is a directory; give the path of a {kind} manifest file (.jsonl.gz)")
    if not reader.path.is_file():
        raise ManifestError(f"{reader.path}: no such manifest file; check the path (which stage writes it?)")
    return reader


def read_cuts(path: str | Path) -> CutSet:
    """A lazy ``CutSet`` over the manifest at ``path`` (see the module docstring)."""
    return CutSet(_reader(path, "cut"))


def read_recordings(path: str | Path) -> RecordingSet:
    """The ``RecordingSet`` of the recording manifest at ``path``, read with named errors."""
    return RecordingSet.from_recordings(list(_reader(path, "recording")))


def read_supervisions(path: str | Path) -> SupervisionSet:
    """The ``SupervisionSet`` of the supervision manifest at ``path``, read with named errors."""
    return SupervisionSet.from_segments(list(_reader(path, "supervision")))


def check_feature_storage(cuts: Iterable[Cut], path: str | Path) -> Iterator[Cut]:
    """``cuts`` (of the manifest ``path``), passed on one by one, checking that every cut has features and that
    the archive or directory its features are stored in exists (one check per distinct storage path).

    The first problem is raised once every cut has been passed on, so that a damaged manifest (a truncated gzip,
    a bad line) is named as such first. Raises ``ManifestError`` naming the manifest, the cut and the missing
    storage, and how to fix it."""
    seen: set[str] = set()
    problem = None
    for cut in cuts:
        if problem is None and not cut.has_features:
            problem = (f"{path}: cut {cut.id!r} has no features; compute them with `hent-srt features` (stage 1) "
                       "and pass its output manifest (or decode with --on-the-fly-features)")
        elif problem is None and cut.features.storage_path not in seen:
            storage = cut.features.storage_path
            if not Path(storage).exists():
                problem = (f"{path}: the features of cut {cut.id!r} are stored in {storage}, which does not exist; "
                           "keep the manifest beside the feats_* directory `hent-srt features` wrote with it, or "
                           "compute the features again with `hent-srt features`")
            seen.add(storage)
        yield cut
    if problem is not None:
        raise ManifestError(problem)
