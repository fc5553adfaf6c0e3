"""Atomic writes: the file appears whole or not at all; a failure leaves the old file and no temporary."""

import pytest

from hent_srt import fileio


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
