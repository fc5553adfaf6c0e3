"""Atomic writes, the output-directory lock, stale temporaries and path checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hent_srt import fileio
from hent_srt.errors import UserError


def test_write_replaces_whole_file_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b.txt"
    fileio.write_text_atomic(path, "first\n")
    fileio.write_text_atomic(path, "second ünïcode\n")
    assert path.read_text(encoding="utf-8") == "second ünïcode\n"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]


def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.bin"
    fileio.write_bytes_atomic(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        fileio.write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


@pytest.fixture
def umask():
    """Run the test under a chosen umask, restoring the process's own afterwards."""
    saved = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_get_the_mode_of_a_normal_new_file(tmp_path, umask, mask, mode):
    umask(mask)
    path = tmp_path / "results.txt"
    fileio.write_text_atomic(path, "x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives under the same umask: the independent reference
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == mode


def test_a_replaced_file_keeps_its_own_mode(tmp_path, umask):
    path = tmp_path / "shared.txt"
    path.write_text("old")
    path.chmod(0o640)
    fileio.write_text_atomic(path, "new")
    assert path.stat().st_mode & 0o777 == 0o640 and path.read_text() == "new"


def test_temporary_names_are_unique_and_recognisable(tmp_path):
    path = tmp_path / "cuts_train.jsonl.gz"
    with fileio.atomic_path(path) as first, fileio.atomic_path(path) as second:
        assert first != second and first.exists() and second.exists()
        assert fileio.is_temporary(first.name) and fileio.is_temporary(second.name)
        assert f".{os.getpid()}." in first.name
        second.write_text("inner")
        first.write_text("outer")
    assert path.read_text() == "outer"  # the last to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert not fileio.is_temporary(fileio.LOCK_NAME) and not fileio.is_temporary("epoch-3.pt")


def test_a_directory_as_destination_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        fileio.write_text_atomic(tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


def test_directory_output_replaces_the_old_one_only_when_complete(tmp_path, umask):
    out = tmp_path / "export"
    with fileio.atomic_path(out, directory=True) as tmp:
        (tmp / "model.pt").write_text("v1")
    with pytest.raises(RuntimeError), fileio.atomic_path(out, directory=True) as tmp:
        (tmp / "model.pt").write_text("half")
        raise RuntimeError("killed half way")
    assert (out / "model.pt").read_text() == "v1"
    with fileio.atomic_path(out, directory=True) as tmp:
        (tmp / "model.pt").write_text("v2")
    assert (out / "model.pt").read_text() == "v2"
    assert out.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def _start(code: str, *args: str) -> subprocess.Popen:
    """A Python child running ``code``; it prints a line once it is ready."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


HOLD_LOCK = """
    import sys, time
    from hent_srt.fileio import DirectoryLock
    lock = DirectoryLock(sys.argv[1])
    lock.acquire()
    print("ready", flush=True)
    sys.stdin.readline()
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_writer_is_refused_with_the_directory_and_the_holder(tmp_path):
    holder = _start(HOLD_LOCK, str(tmp_path), "0")
    try:
        for wait in (False, 0.3):
            with pytest.raises(fileio.DirectoryLockedError) as err:
                fileio.DirectoryLock(tmp_path, wait=wait).acquire()
            assert str(tmp_path) in str(err.value) and f"pid {holder.pid}" in str(err.value)
    finally:
        holder.communicate("done\n", timeout=60)
    with fileio.DirectoryLock(tmp_path):  # free again once the holder is gone
        pass


def test_a_waiting_writer_gets_the_lock_when_the_holder_finishes(tmp_path, caplog):
    holder = _start(HOLD_LOCK, str(tmp_path), "2")
    holder.stdin.write("done\n")  # the holder keeps the lock 2 s more, then exits
    holder.stdin.flush()
    with caplog.at_level("WARNING"), fileio.DirectoryLock(tmp_path, wait=True) as lock:
        assert f"waiting for {tmp_path}, in use by pid {holder.pid}" in caplog.text
        assert f"pid {os.getpid()}" in fileio.describe_holder(tmp_path / fileio.LOCK_NAME)
        assert lock.directory == tmp_path
    holder.wait(timeout=60)


def test_the_same_process_may_nest_the_lock(tmp_path):
    (tmp_path / "sub").mkdir()
    with fileio.DirectoryLock(tmp_path), fileio.DirectoryLock(tmp_path / "sub" / ".."):
        pass
    with fileio.DirectoryLock(tmp_path):
        pass


WRITE_AND_HANG = """
    import sys, time
    from hent_srt.fileio import DirectoryLock, atomic_path
    with DirectoryLock(sys.argv[1]), atomic_path(sys.argv[1] + "/epoch-1.pt") as tmp:
        tmp.write_bytes(b"half a checkpoint")
        print("ready", flush=True)
        time.sleep(600)
"""


def test_a_killed_writer_leaves_neither_lock_nor_temporary_behind(tmp_path):
    writer = _start(WRITE_AND_HANG, str(tmp_path))
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=60)
    left = [p for p in tmp_path.iterdir() if fileio.is_temporary(p.name)]
    assert len(left) == 1 and f".{writer.pid}." in left[0].name
    with fileio.DirectoryLock(tmp_path, wait=False):
        assert not any(fileio.is_temporary(p.name) for p in tmp_path.iterdir())
    assert not (tmp_path / "epoch-1.pt").exists()


def test_cleaning_spares_live_writers_own_files_and_new_temporaries(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = _start("print('ready', flush=True); import sys; sys.stdin.readline()")
    try:
        names = {
            "dead_old": f".a.txt.{dead_pid}.abcd1234.tmp",
            "dead_new": f".b.txt.{dead_pid}.abcd1234.tmp",
            "live_old": f".c.txt.{live.pid}.abcd1234.tmp",
            "own_old": f".d.txt.{os.getpid()}.abcd1234.tmp",
            "not_temporary": "notes.tmp",
        }
        for name in names.values():
            (tmp_path / name).write_text("x")
        old = time.time() - 3600
        for key in ("dead_old", "live_old", "own_old"):
            os.utime(tmp_path / names[key], (old, old))
        removed = fileio.clean_stale_temporaries(tmp_path, older_than=time.time() - 60)
        assert [p.name for p in removed] == [names["dead_old"]]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(v for k, v in names.items() if k != "dead_old")
    finally:
        live.communicate("done\n", timeout=60)


def test_lock_on_a_file_is_a_user_error(tmp_path):
    file = tmp_path / "exp"
    file.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        fileio.DirectoryLock(file).acquire()


def test_path_checks_name_the_option(tmp_path):
    with pytest.raises(UserError, match="--hyp: .* does not exist"):
        fileio.require_input_file(tmp_path / "nope", "--hyp")
    with pytest.raises(UserError, match="--hyp: .* is a directory"):
        fileio.require_input_file(tmp_path, "--hyp")
    with pytest.raises(UserError, match="--errs-out: .* is a directory"):
        fileio.require_output_file(tmp_path, "--errs-out")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="--errs-out: .* is a file, so"):
        fileio.require_output_file(tmp_path / "f" / "g" / "errs.txt", "--errs-out")
    assert fileio.require_output_file(tmp_path / "new" / "errs.txt", "--errs-out") == tmp_path / "new" / "errs.txt"


def test_check_utf8_names_the_line(tmp_path):
    path = tmp_path / "text"
    path.write_bytes("u1 señor\n".encode() + b"u2 se\xf1or\n")
    with pytest.raises(UserError, match=r"text:2: not UTF-8 text \(byte 0xf1\)"):
        fileio.check_utf8(path)
    path.write_text("u1 señor\n", encoding="utf-8")
    fileio.check_utf8(path)
