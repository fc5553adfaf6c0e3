"""Outputs that appear whole or not at all, one writer per output directory, and checks of user-given paths.

Atomic writes (:func:`write_bytes_atomic`, :func:`write_text_atomic`, :func:`atomic_path`): the data goes to a
unique temporary name in the destination's directory (``mkstemp``), is flushed to disk, gets the permissions of
a normal new file (``0o666`` less the umask, 0644 under the default umask; an existing file keeps its own mode)
and is renamed over the destination with ``os.replace``. A reader never sees a half-written file; a failure
leaves the previous file (if any) untouched and no temporary behind.

Temporary names: ``.<name>.<pid>.<8 random characters>.tmp`` next to ``<name>`` (followed by the suffixes of
``<name>`` for writers that choose the format by the file name, e.g. ``.tmp.jsonl.gz`` for lhotse), so that a run
killed between creating and renaming leaves a file that :func:`is_temporary` recognises, whose writer (the pid)
is known.

One writer per directory (:class:`DirectoryLock`): an advisory ``fcntl.flock`` on ``<dir>/.hent-srt.lock``,
which holds the holder's pid, host, start time and command line. A second writer either waits for the lock
(``wait=True``, or a number of seconds) or is refused with a message naming the directory and the holder. The
lock is released when the holder exits, however it exits (the kernel drops it), so a killed run never leaves a
stale lock; the lock file itself stays. Taking the lock also removes the stale temporaries of the directory
(:func:`clean_stale_temporaries`): those older than the moment the lock was taken whose writer is not a live
process of this host. The lock is advisory: it orders writers that take it, nothing else (a writer that does
not take it and runs on another host sharing the directory is not protected from this cleaning).

Path checks (:func:`require_input_file`, :func:`require_output_file`, :func:`check_utf8`) raise
:class:`~hent_srt.errors.UserError` naming the option and the path, before any work is done.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

from hent_srt.errors import UserError

LOCK_NAME = ".hent-srt.lock"
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)*$")
_POLL_SECONDS = 0.2

log = logging.getLogger(__name__)


class DirectoryLockedError(UserError):
    """Another process holds the lock of an output directory."""


def _umask() -> int:
    """The process's umask, read without changing it where /proc allows (os.umask can only set it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    """The mode the finished file gets: an existing file's own mode, or that of a new file under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def temporary_prefix(path: Path) -> str:
    """The name prefix of this process's temporaries for ``path`` (see the module docstring)."""
    return f".{path.name}.{os.getpid()}."


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary left by one of these writers (``.<name>.<pid>.<random>.tmp``)."""
    return _TEMPORARY.match(name) is not None


def _check_destination(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file name (e.g. {path / 'out.txt'})")


@contextmanager
def atomic_path(path: str | Path, directory: bool = False, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a unique temporary path next to ``path``; when the block succeeds it becomes ``path``.

    For tools that write by file name (``torch.save``, sentencepiece, ``onnx.save``); ``keep_suffix=True`` ends the
    temporary's name with the suffixes of ``path`` (``.jsonl.gz``) for tools that choose the format by the name
    (lhotse's ``to_file``). With ``directory=True``
    the temporary is a directory (mode as for a new directory under the umask); an existing directory at
    ``path`` is replaced only once the new one is complete (it is renamed aside, the new one renamed in, the old
    one removed). If the block raises, the temporary is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if not directory:
        _check_destination(path)
    elif path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file; give the path of a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent))
        mode = 0o777 & ~_umask()
    else:
        suffix = ".tmp" + ("".join(path.suffixes) if keep_suffix else "")
        fd, name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        mode = _new_file_mode(path)
    try:
        yield tmp
        os.chmod(tmp, mode)
        if directory and path.is_dir():
            _replace_directory(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _replace_directory(new: Path, path: Path) -> None:
    """Put the complete directory ``new`` at ``path``, where a previous directory stands until then."""
    aside = Path(tempfile.mkdtemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent))
    os.rmdir(aside)
    os.replace(path, aside)
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (parent directories are created)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------
# One writer per output directory


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temporaries(directory: str | Path, older_than: float | None = None) -> list[Path]:
    """Remove the temporaries (:func:`is_temporary`) in ``directory`` that no live writer can still finish.

    A temporary is stale when its writer's pid is not a live process of this host and, if ``older_than`` (a
    ``time.time()`` value) is given, it was last modified before then. Returns the paths removed. Call it while
    holding the directory's lock (:class:`DirectoryLock` does), so that no cooperating writer is running.
    """
    removed = []
    directory = Path(directory)
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or int(match["pid"]) == os.getpid() or _pid_alive(int(match["pid"])):
            continue
        try:
            if older_than is not None and entry.lstat().st_mtime >= older_than:
                continue
        except FileNotFoundError:
            continue
        _remove(entry)
        removed.append(entry)
    return removed


@dataclass
class _HeldLock:
    lock_file: TextIO
    depth: int


class DirectoryLock:
    """Exclusive advisory lock of an output directory (see the module docstring); a context manager.

    ``wait``: False refuses at once when another process holds the lock (:class:`DirectoryLockedError`, a
    ``UserError``), True waits as long as it takes, a number waits up to that many seconds and then refuses.
    A process that already holds the lock of a directory may take it again (nested uses count).
    ``clean=True`` removes the directory's stale temporaries once the lock is held.
    """

    _held: dict[Path, _HeldLock] = {}  # the locks this process holds, by resolved directory

    def __init__(self, directory: str | Path, wait: bool | float = False, clean: bool = True) -> None:
        self.directory = Path(directory)
        self.wait = wait
        self.clean = clean
        self._key: Path | None = None

    def __enter__(self) -> DirectoryLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise UserError(f"{self.directory} is a file; give the path of an output directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        key = self.directory.resolve()
        held = self._held.get(key)
        if held is not None:
            held.depth += 1
            self._key = key
            return
        lock_path = key / LOCK_NAME
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        lock_file = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            if not self._lock(lock_file, lock_path):
                lock_file.close()
                return
            started = time.time()
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(
                f"pid {os.getpid()}\nhost {socket.gethostname()}\n"
                f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}\n"
                f"command {' '.join(sys.argv)}\n"
            )
            lock_file.flush()
        except BaseException:
            lock_file.close()
            raise
        self._held[key] = _HeldLock(lock_file, 1)
        self._key = key
        if self.clean:
            clean_stale_temporaries(key, older_than=started)

    def _lock(self, lock_file: TextIO, lock_path: Path) -> bool:
        """Take the flock, waiting as ``self.wait`` says; False where the file system has no locks."""
        deadline = None if self.wait is True else time.monotonic() + float(self.wait or 0)
        announced = False
        while True:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            except OSError as err:
                if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    log.warning("%s does not support file locks; make sure no other run writes there", self.directory)
                    return False
                raise
            holder = describe_holder(lock_path)
            if deadline is not None and time.monotonic() >= deadline:
                raise DirectoryLockedError(
                    f"{self.directory} is in use by another hent-srt run ({holder}); wait for it to finish, "
                    "stop it, or write to another directory"
                )
            if not announced:
                log.warning("waiting for %s, in use by %s", self.directory, holder)
                announced = True
            time.sleep(_POLL_SECONDS)

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        held = self._held[key]
        held.depth -= 1
        if held.depth == 0:
            del self._held[key]
            held.lock_file.close()  # closing the last descriptor drops the flock


def describe_holder(lock_path: str | Path) -> str:
    """``"pid 123 on host h, started ..., command ..."`` from a lock file, as far as it says."""
    try:
        fields = dict(
            line.split(" ", 1) for line in Path(lock_path).read_text(encoding="utf-8").splitlines() if " " in line
        )
    except (OSError, UnicodeDecodeError):
        fields = {}
    if "pid" not in fields:
        return "a process that has not written its pid yet"
    parts = [f"pid {fields['pid']}"]
    parts += [f"{key} {fields[key]}" for key in ("host", "started", "command") if key in fields]
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Checks of user-given paths


def require_input_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path if it names a readable file, else a UserError naming ``what`` (e.g. ``"--hyp"``)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what}: {path} does not exist; check the path")
    if path.is_dir():
        raise UserError(f"{what}: {path} is a directory; give the path of a file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{what}: {path} is not readable (permission denied); check its permissions")
    return path


def require_output_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path if a file can be written there (atomically), else a UserError naming ``what``."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what}: {path} is a directory; give a file name, e.g. {path / 'out.txt'}")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{what}: {ancestor} is a file, so {path} cannot be created; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{what}: cannot write in {ancestor} (permission denied); choose another path")
    return path


def check_utf8(path: str | Path) -> None:
    """Raise a UserError naming ``path`` and the first line that is not UTF-8; return if the file is UTF-8."""
    path = Path(path)
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{path}:{lineno}: not UTF-8 text (byte 0x{line[err.start]:02x}); convert the file to UTF-8, "
                    "e.g. iconv -f LATIN1 -t UTF-8"
                ) from err


__all__ = [
    "write_bytes_atomic", "write_text_atomic", "atomic_path", "is_temporary", "temporary_prefix",
    "clean_stale_temporaries", "DirectoryLock", "DirectoryLockedError", "describe_holder", "require_input_file",
    "require_output_file", "check_utf8", "LOCK_NAME",
]
