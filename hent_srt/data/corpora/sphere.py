"""NIST SPHERE audio through libsndfile (``soundfile``): header parsing, checks, recordings, FLAC conversion.

LDC telephone corpora ship SPHERE files: a 1024-byte ASCII header (``NIST_1A``, the header size, then
``name -type value`` lines up to ``end_head``) followed by PCM, mu-law or A-law samples, which libsndfile
reads. Some releases compress the samples with ``shorten`` (``sample_coding`` contains ``shorten``); libsndfile
cannot decode those, and ``sph2pipe`` is not installed on many machines, so such files are detected from the
header and rejected with a message saying how to convert them. ``sph2pipe`` is never called.

lhotse's default audio backend sends every ``.sph`` path to ``sph2pipe``; :func:`use_libsndfile_for_sphere`
switches lhotse to libsndfile for them, and :func:`convert_to_flac` makes a one-time FLAC copy that any lhotse
backend reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
from lhotse import AudioSource, Recording
from lhotse.audio.backend import (
    CompositeAudioBackend,
    LibsndfileBackend,
    Sph2pipeSubprocessBackend,
    get_default_audio_backend,
    set_current_audio_backend,
)

from hent_srt.fileio import atomic_path

__all__ = [
    "AudioInfo",
    "ShortenCompressedError",
    "SphereHeader",
    "SphereLibsndfileBackend",
    "check_sphere",
    "convert_to_flac",
    "read_sphere_header",
    "sphere_recording",
    "use_libsndfile_for_sphere",
]

_MAGIC = b"NIST_1A"
_MAX_HEADER = 1 << 16

CONVERT_HINT = (
    "Convert the corpus once on a machine that has sph2pipe or sox, keeping the file names, e.g.\n"
    '  for f in $(find CORPUS -iname \'*.sph\'); do sph2pipe -f wav "$f" "${f%.*}.wav"; done\n'
    '  (or: sox "$f" "${f%.*}.wav"), then point the preparation at the converted copy.'
)


@dataclass(frozen=True)
class AudioInfo:
    """What a recording needs from an audio file: sampling rate, frames per channel, channel count."""

    sample_rate: int
    frames: int
    channels: int


def _audio_info(path: Path) -> AudioInfo:
    info = sf.info(str(path))
    return AudioInfo(sample_rate=int(info.samplerate), frames=int(info.frames), channels=int(info.channels))


class ShortenCompressedError(ValueError):
    """A SPHERE file whose samples are shorten-compressed, which libsndfile cannot decode."""


@dataclass(frozen=True)
class SphereHeader:
    """The fields of a SPHERE header; ``fields`` holds every ``name -type value`` line, typed."""

    path: Path
    header_size: int
    fields: dict[str, int | float | str]

    @property
    def sample_coding(self) -> str:
        """The ``sample_coding`` field (``pcm`` when absent, per the SPHERE convention)."""
        return str(self.fields.get("sample_coding", "pcm"))

    @property
    def is_shorten(self) -> bool:
        """True when the samples are shorten-compressed."""
        return "shorten" in self.sample_coding.lower()


def _parse_value(kind: str, raw: str, path: Path, line: str) -> int | float | str:
    if kind == "-i":
        return int(raw)
    if kind == "-r":
        return float(raw)
    if kind.startswith("-s"):
        return raw
    raise ValueError(f"{path}: unknown SPHERE header field type {kind!r} in line {line!r}.")


def read_sphere_header(path: Path | str) -> SphereHeader:
    """Parse the ASCII header of a NIST SPHERE file.

    Raises ``ValueError`` naming the file when it does not start with ``NIST_1A`` or the header is malformed.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1024)
        if not head.startswith(_MAGIC):
            raise ValueError(f"{path} is not a NIST SPHERE file (it does not start with NIST_1A).")
        lines = head.split(b"\n")
        try:
            header_size = int(lines[1].strip())
        except (IndexError, ValueError):
            raise ValueError(f"{path}: SPHERE header size (second header line) is not a number.") from None
        if not 0 < header_size <= _MAX_HEADER:
            raise ValueError(f"{path}: implausible SPHERE header size {header_size}.")
        if header_size > len(head):
            head += f.read(header_size - len(head))
    text = head[:header_size].decode("latin-1")
    fields: dict[str, int | float | str] = {}
    for line in text.split("\n")[2:]:
        line = line.strip()
        if line == "end_head":
            return SphereHeader(path=path, header_size=header_size, fields=fields)
        if not line or line.startswith(";"):
            continue
        parts = line.split(None, 2)
        if len(parts) != 3:
            raise ValueError(f"{path}: malformed SPHERE header line {line!r} (expected 'name -type value').")
        name, kind, raw = parts
        fields[name] = _parse_value(kind, raw, path, line)
    raise ValueError(f"{path}: SPHERE header has no end_head line within its {header_size} bytes.")


def _require_nist_support() -> None:
    if "NIST" not in sf.available_formats():
        raise RuntimeError(
            f"this libsndfile ({sf.__libsndfile_version__}) cannot read NIST SPHERE files; install a "
            "libsndfile built with SPHERE support (the soundfile wheels include one), or convert the audio to "
            "WAV/FLAC first."
        )


def check_sphere(path: Path | str) -> AudioInfo:
    """Check that libsndfile can read ``path``; return its :class:`AudioInfo`.

    Raises ``ShortenCompressedError`` for shorten-compressed files and ``ValueError`` for files libsndfile
    cannot open, each naming the file and the conversion to do.
    """
    path = Path(path)
    header = read_sphere_header(path)
    if header.is_shorten:
        raise ShortenCompressedError(
            f"{path} is shorten-compressed (sample_coding {header.sample_coding!r}); libsndfile cannot decode "
            f"it.\n{CONVERT_HINT}"
        )
    _require_nist_support()
    try:
        return _audio_info(path)
    except RuntimeError as e:
        raise ValueError(
            f"libsndfile cannot read {path} (sample_coding {header.sample_coding!r}): {e}\n{CONVERT_HINT}"
        ) from None


def convert_to_flac(source: Path | str, destination: Path | str) -> Path:
    """Decode ``source`` (any libsndfile format) and write it as 16-bit FLAC at ``destination``, atomically.

    All channels are kept. An existing destination is reused when libsndfile can open it.
    """
    source, destination = Path(source), Path(destination)
    if destination.is_file():
        try:
            sf.info(str(destination))
            return destination
        except RuntimeError:
            destination.unlink()
    if source.suffix.lower() == ".sph":
        check_sphere(source)
    data, rate = sf.read(str(source), dtype="int16", always_2d=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(destination) as temp:
        sf.write(str(temp), data, rate, format="FLAC", subtype="PCM_16")
    return destination


def sphere_recording(path: Path | str, recording_id: str, flac_dir: Path | str | None = None) -> Recording:
    """A lhotse ``Recording`` of a SPHERE file with all its channels (channel ``i`` = ``i``-th side).

    With ``flac_dir`` the file is first converted to ``<flac_dir>/<recording_id>.flac`` (once) and the
    recording points at the FLAC copy.
    """
    path = Path(path)
    if flac_dir is not None:
        path = convert_to_flac(path, Path(flac_dir) / f"{recording_id}.flac")
        info = _audio_info(path)
    else:
        info = check_sphere(path)
    channels = list(range(info.channels))
    return Recording(
        id=recording_id,
        sources=[AudioSource(type="file", channels=channels, source=str(path.resolve()))],
        sampling_rate=info.sample_rate,
        num_samples=info.frames,
        duration=info.frames / info.sample_rate,
        channel_ids=channels,
    )


class SphereLibsndfileBackend(LibsndfileBackend):
    """lhotse's libsndfile backend, claiming ``.sph`` paths (which lhotse otherwise sends to sph2pipe)."""

    def handles_special_case(self, path_or_fd) -> bool:
        """True for ``.sph`` paths and for the cases lhotse's libsndfile backend already claims."""
        if isinstance(path_or_fd, (str, Path)) and str(path_or_fd).lower().endswith(".sph"):
            return True
        return super().handles_special_case(path_or_fd)


def use_libsndfile_for_sphere() -> None:
    """Make lhotse read ``.sph`` files with libsndfile instead of sph2pipe (process-wide).

    The default backend list is kept, with sph2pipe removed and lhotse's libsndfile backend replaced by
    :class:`SphereLibsndfileBackend`.
    """
    _require_nist_support()
    backends = []
    for backend in get_default_audio_backend().backends:
        if isinstance(backend, Sph2pipeSubprocessBackend):
            continue
        backends.append(SphereLibsndfileBackend() if type(backend) is LibsndfileBackend else backend)
    set_current_audio_backend(CompositeAudioBackend(backends))
