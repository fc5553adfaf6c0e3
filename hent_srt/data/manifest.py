"""Reading lhotse cut manifests (``.jsonl`` / ``.jsonl.gz``) lazily, with errors that name the file and line.

``read_cuts(path)`` returns a lazy ``CutSet``: nothing is read until it is iterated, and each iteration reads the
file again from the start, one line at a time, so memory does not grow with the manifest. Feature storage paths
that are relative are resolved against the manifest's directory (``hent-srt features`` writes them so, and the
manifest then works from any working directory and after its directory is moved); a relative path that only
exists from the current directory (manifests written before that convention) is used as it is.

A line that is not UTF-8, not JSON or not a lhotse cut, and a truncated or corrupt gzip stream, raise
``ManifestError`` naming the file and the line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.serialization import deserialize_item

__all__ = ["ManifestError", "ManifestReader", "file_digest", "read_cuts"]

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


class ManifestReader:
    """A re-iterable stream of the cuts of one manifest file (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.base = self.path.resolve().parent
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
        if not isinstance(data, dict) or data.get("type") not in ("MonoCut", "MixedCut", "MultiCut"):
            raise ManifestError(
                f"{self.path}: line {number} is not a lhotse cut (no cut 'type'); pass a cut manifest "
                "(cuts_*.jsonl.gz), not a recording or supervision manifest"
            )
        return data

    def _cut(self, line: bytes, number: int) -> Cut:
        data = self._json(line, number)
        features = data.get("features")
        if isinstance(features, dict) and isinstance(features.get("storage_path"), str):
            features["storage_path"] = self._storage_path(features["storage_path"])
        try:
            return deserialize_item(data)
        except (KeyError, TypeError, ValueError, AssertionError) as err:
            raise ManifestError(
                f"{self.path}: line {number} is not a valid lhotse cut ({type(err).__name__}: {err}); {_REGENERATE}"
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

    def __iter__(self) -> Iterator[Cut]:
        for number, line in self._lines():
            yield self._cut(line, number)

    def durations(self) -> Iterator[float]:
        """The cuts' durations in file order, read from the JSON alone (no cut objects are built: a sixth of
        the cost of iterating the cuts)."""
        for number, line in self._lines():
            duration = self._json(line, number).get("duration")
            if not isinstance(duration, (int, float)):
                raise ManifestError(f"{self.path}: line {number} has no numeric 'duration'; {_REGENERATE}")
            yield float(duration)

    def __len__(self) -> int:
        """The number of cuts: a pass over the file that counts its non-empty lines (nothing is parsed)."""
        with self._open() as f:
            return sum(1 for line in f if line.strip())

    def __repr__(self) -> str:
        return f"ManifestReader({str(self.path)!r})"


def read_cuts(path: str | Path) -> CutSet:
    """A lazy ``CutSet`` over the manifest at ``path`` (see the module docstring)."""
    reader = ManifestReader(path)
    if not reader.path.is_file():
        raise ManifestError(f"{reader.path}: no such manifest file; check the path (which stage writes it?)")
    return CutSet(reader)

