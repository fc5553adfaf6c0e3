"""Atomic file writes (a temporary file in the destination's directory, then ``os.replace``) and advisory
directory locks.

A reader never sees a half-written file, and a failure leaves the previous file (if any) untouched and no
temporary file behind. ``directory_lock`` serialises the commands that write into one output directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def directory_lock(directory: str | Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock (``fcntl.flock``) on ``directory/.lock`` while the block runs.

    A second holder waits, after logging who holds the lock; with ``timeout`` (seconds) it gives up after that
    long with a ``ValueError`` naming the directory and the holder. The lock goes away with its process, so a
    killed run never leaves the directory locked. ``what`` names the command in the messages.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(lock_path)
            if timeout is not None and timeout <= 0:
                raise ValueError(
                    f"{directory} is in use by {holder} ({what}, lock {lock_path}); wait for it to finish or "
                    "write to another directory"
                ) from None
            log.warning("%s: waiting for %s, which holds %s", what, holder, lock_path)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ValueError(
                            f"{directory} is still in use by {holder} after {timeout:g} s ({what}, lock "
                            f"{lock_path}); wait for it to finish or write to another directory"
                        ) from None
                    time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
