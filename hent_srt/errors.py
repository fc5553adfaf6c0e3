"""Which exceptions are the user's to fix, and the one-line message the command line prints for them.

``hent-srt`` turns a user error into one line on stderr, ``hent-srt <command>: <what is wrong>; <the fix>``,
and exit status 2; every other exception keeps its traceback (exit 1), because it is a bug to report. The
classification, in :func:`user_message`:

1. :class:`UserError` and its subclasses, wherever they are raised. New code raises these (or a subclass) for
   bad input; they are ``ValueError`` so that the existing ``except ValueError`` handlers keep working.
2. Any other ``ValueError`` (``SchemaError``, ``CheckpointError``, ``FeatureInputError`` ... included) counts only
   when the frame that raised it belongs to the ``hent_srt`` package: by the project's convention hent-srt
   code raises ``ValueError`` for bad input, whereas a ``ValueError`` raised inside torch, numpy or lhotse is
   as likely a shape or state bug of ours as a bad file, and hiding its traceback would hide the bug. Where
   hent-srt code calls a C function (``int(text)``, ``torch.tensor(...)``), the raising frame is the caller's,
   so those count as ours too; such calls parse user values in this code base. For an error a DataLoader
   worker raised, the innermost frame of the worker's traceback decides.
3. Errors that only a file or the file system can cause, wherever they are raised: a missing, unreadable or
   misplaced path (``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ``NotADirectoryError``,
   ``FileExistsError``, a full or read-only disk), and parse errors of the formats hent-srt reads: YAML
   (``yaml.YAMLError``), JSON (``json.JSONDecodeError``), text that is not UTF-8 (``UnicodeDecodeError``),
   gzip (``gzip.BadGzipFile``, ``EOFError`` and ``zlib.error`` for a truncated or damaged ``.gz``), audio
   (``soundfile.LibsndfileError``, lhotse's ``AudioLoadingError``) and a checkpoint that ``torch.load(...,
   weights_only=True)`` refuses or cannot read (``pickle.UnpicklingError``, torch's ``RuntimeError``
   "PytorchStreamReader failed ...", which only a damaged checkpoint archive causes).

A parse error rarely says which file it came from; the message then names the file that the innermost frame of
the traceback was reading (an open file object, or a local ``path``/``filename`` naming an existing file).
Setting ``HENT_SRT_TRACEBACK=1`` in the environment shows the traceback of user errors too.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import pickle
import re
import sys
import zlib
from pathlib import Path
from types import TracebackType

PACKAGE_DIR = Path(__file__).resolve().parent
TRACEBACK_ENV = "HENT_SRT_TRACEBACK"


class UserError(ValueError):
    """Bad input from the user: the message names the field or file and says how to fix it."""


_OS_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("no such file or directory", "check the path (an earlier stage may not have run)"),
    errno.EACCES: ("permission denied", "check its permissions (ls -l) or choose a location you can use"),
    errno.EPERM: ("operation not permitted", "check its permissions (ls -l) or choose a location you can use"),
    errno.EISDIR: ("is a directory", "give the path of a file, not of a directory"),
    errno.ENOTDIR: ("a component of the path is not a directory", "check the path"),
    errno.EEXIST: ("already exists", "remove it or choose another path"),
    errno.ENOSPC: ("no space left on the device", "free some space or write somewhere else"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write somewhere else"),
    errno.EROFS: ("read-only file system", "write somewhere else"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path"),
    errno.ELOOP: ("too many levels of symbolic links", "check the symbolic links on the path"),
}
_ERRNO_OF_TYPE: dict[type, int] = {
    FileNotFoundError: errno.ENOENT, PermissionError: errno.EACCES, IsADirectoryError: errno.EISDIR,
    NotADirectoryError: errno.ENOTDIR, FileExistsError: errno.EEXIST,
}
_FILE_LOCAL_NAMES = ("path", "filename", "file", "fname", "f", "path_or_buf", "manifest", "source")
_TORCH_ARCHIVE_ERROR = "PytorchStreamReader failed"
_WORKER_TRACEBACK = "Original Traceback (most recent call last):"
_EXCEPTION_NAME = re.compile(r"^[A-Za-z_][\w.]*: ")  # "SchemaError: " starting the worker's message
_FRAME_LINE = re.compile(r'^\s*File "([^"]+)", line \d+', re.M)


def _innermost_frame_file(tb: TracebackType | None) -> str | None:
    """The source file of the frame that raised (the last entry of the traceback)."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return None if last is None else last.tb_frame.f_code.co_filename


def _in_package(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def raised_by_hent_srt(err: BaseException) -> bool:
    """Whether the innermost traceback frame of ``err`` is code of the ``hent_srt`` package.

    An exception that a torch DataLoader worker re-raises in the main process carries the worker's traceback as
    text; its innermost frame there decides.
    """
    text = str(err)
    if _WORKER_TRACEBACK in text:
        worker_frames = _FRAME_LINE.findall(text.split(_WORKER_TRACEBACK, 1)[1])
        return bool(worker_frames) and _in_package(worker_frames[-1])
    filename = _innermost_frame_file(err.__traceback__)
    return filename is not None and _in_package(filename)


def _file_of(value: object) -> str | None:
    """The path ``value`` stands for, if it is an open file object or a path naming an existing file."""
    if isinstance(value, (io.IOBase, gzip.GzipFile)):
        name = getattr(value, "name", None)
        return name if isinstance(name, str) and not name.startswith("<") else None
    if isinstance(value, (str, os.PathLike)):
        try:
            return str(value) if Path(value).is_file() else None
        except (OSError, ValueError):
            return None
    return None


def file_being_read(err: BaseException) -> str | None:
    """The file the innermost frames of ``err``'s traceback had open (or named as ``path``), if any."""
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        local_vars = frame.f_locals
        for value in local_vars.values():
            if isinstance(value, (io.IOBase, gzip.GzipFile)) and (name := _file_of(value)):
                return name
        for key in _FILE_LOCAL_NAMES:
            if key in local_vars and (name := _file_of(local_vars[key])):
                return name
    return None


def _os_message(err: OSError) -> str | None:
    if isinstance(err, gzip.BadGzipFile):
        return None
    code = err.errno if err.errno is not None else _ERRNO_OF_TYPE.get(type(err))  # None: re-raised by a worker
    reason_fix = _OS_REASONS.get(code) if code is not None else None
    if reason_fix is None:
        return None
    reason, fix = reason_fix
    if err.filename is None:
        detail = own_text(err)
        return f"{detail}; {fix}" if detail else f"{reason}; {fix}"
    target = f"{err.filename}" if err.filename2 is None else f"{err.filename} -> {err.filename2}"
    return f"{target}: {reason}; {fix}"


def _where(err: BaseException) -> str:
    name = file_being_read(err)
    return f"{name}: " if name else ""


def _parse_message(err: BaseException) -> str | None:
    """The message for a parse error of a file format hent-srt reads, or None."""
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(err, yaml.YAMLError):
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if mark is not None:
            return f"{mark.name}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}; fix the file there"
        return f"{_where(err)}YAML error: {problem}; fix the file"
    if isinstance(err, json.JSONDecodeError):
        return (
            f"{_where(err)}not valid JSON ({err.msg}, line {err.lineno} column {err.colno} of the text parsed); "
            "re-create the file or fix that line"
        )
    if isinstance(err, UnicodeDecodeError):
        byte = err.object[err.start:err.start + 1].hex()
        return (
            f"{_where(err)}not UTF-8 text (byte 0x{byte} cannot be decoded as {err.encoding}); "
            "convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8"
        )
    if isinstance(err, gzip.BadGzipFile):
        return (
            f"{_where(err)}not gzip data ({own_text(err)}); a .gz file must be gzip-compressed: re-create it or "
            "rename it"
        )
    if isinstance(err, (EOFError, zlib.error)):
        return (
            f"{_where(err)}truncated or damaged compressed data ({own_text(err)}); re-create the file "
            "(the run that wrote it was probably interrupted)"
        )
    if isinstance(err, pickle.UnpicklingError):
        if "weights only" in own_text(err).lower():
            return (
                f"{_where(err)}refused to load: this is not a checkpoint of plain tensors and numbers (loading "
                "it would run code stored in the file); use checkpoints written by hent-srt"
            )
        return f"{_where(err)}not a readable checkpoint ({_last_line(own_text(err))}); re-create or re-download it"
    if isinstance(err, RuntimeError) and own_text(err).startswith(_TORCH_ARCHIVE_ERROR):
        reason = own_text(err).split(". ")[0]
        return f"{_where(err)}damaged or truncated checkpoint ({reason}); re-create or re-download it"
    soundfile = sys.modules.get("soundfile")
    if soundfile is not None and isinstance(err, soundfile.SoundFileError):
        return f"{_where(err)}cannot read audio: {own_text(err)}; check that the file is a complete audio file"
    lhotse_audio = sys.modules.get("lhotse.audio.utils")
    if lhotse_audio is not None and isinstance(err, getattr(lhotse_audio, "AudioLoadingError", ())):
        return f"cannot read audio: {_last_line(own_text(err))}; check the recording's source path and file"
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def own_text(err: BaseException) -> str:
    """``str(err)``, without the worker traceback a torch DataLoader puts in front of a re-raised message."""
    text = str(err)
    if _WORKER_TRACEBACK not in text:
        return text
    worker = text.split(_WORKER_TRACEBACK, 1)[1]
    frames = list(_FRAME_LINE.finditer(worker))
    lines = worker[frames[-1].end():].splitlines()[1:] if frames else worker.splitlines()
    while lines and (not lines[0].strip() or lines[0][:1].isspace()):  # the frame's source line and markers
        lines.pop(0)
    return _EXCEPTION_NAME.sub("", "\n".join(lines), count=1).strip()


def user_message(err: BaseException) -> str | None:
    """The one-line message for ``err`` if it is a user error (see the module docstring), else None."""
    parsed = _parse_message(err)
    if parsed is not None:
        return parsed
    if isinstance(err, OSError):
        return _os_message(err)
    if isinstance(err, UserError) or (isinstance(err, ValueError) and raised_by_hent_srt(err)):
        return own_text(err) or type(err).__name__
    return None


def show_tracebacks() -> bool:
    """Whether ``HENT_SRT_TRACEBACK`` asks for tracebacks of user errors too."""
    return os.environ.get(TRACEBACK_ENV, "").strip().lower() not in ("", "0", "false", "no")


__all__ = ["UserError", "user_message", "raised_by_hent_srt", "file_being_read", "own_text", "show_tracebacks"]
