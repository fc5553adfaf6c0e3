"""The shared reader of released text files: lines end at \\n only, BOMs, CRLF, encodings, bad bytes."""

from __future__ import annotations

import logging

import pytest

from hent_srt.data.corpora.manifests import CorpusError
from hent_srt.data.corpora.textfile import INLINE_BREAKS, read_lines


def _file(tmp_path, data: bytes):
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("char", list(INLINE_BREAKS))
def test_a_line_break_inside_a_line_is_a_space(tmp_path, char):
    data = f"one{char}two\nthree\n".encode()
    assert len(data.decode().splitlines()) == 3  # what text mode / splitlines would have counted
    assert read_lines(_file(tmp_path, data)) == ["one two", "three"]


def test_the_lines_are_those_that_wc_counts(tmp_path):
    data = "a\rb\nc\x85\u2028d\r\ne\x0b\nlast line without newline".encode()
    lines = read_lines(_file(tmp_path, data))
    assert len(lines) == data.count(b"\n") + 1
    assert lines == ["a b", "c  d", "e ", "last line without newline"]


def test_crlf_and_blank_lines(tmp_path):
    assert read_lines(_file(tmp_path, b"x\r\n\r\ny\r\r\n")) == ["x", "", "y"]
    assert read_lines(_file(tmp_path, b"")) == []
    assert read_lines(_file(tmp_path, b"\n")) == [""]


@pytest.mark.parametrize(
    "data, encodings",
    [
        (b"\xef\xbb\xbfid1\nid2\n", ("gb18030",)),  # the BOM says UTF-8, whatever the release's encoding
        ("\ufeffid1\nid2\n".encode("utf-16-le"), ("utf-8",)),
        ("\ufeffid1\nid2\n".encode("utf-16-be"), ("utf-8",)),
        (b"id1\n\xef\xbb\xbfid2\n", ("utf-8",)),  # two files concatenated with their BOMs
    ],
)
def test_byte_order_marks_go(tmp_path, data, encodings):
    assert read_lines(_file(tmp_path, data), encodings) == ["id1", "id2"]


def test_blanks_and_tabs_are_kept_for_the_readers(tmp_path):
    assert read_lines(_file(tmp_path, b" a\t b \t\n")) == [" a\t b \t"]


def test_encodings_are_tried_in_order(tmp_path, caplog):
    text = "你好，世界\n再见\n"
    with caplog.at_level(logging.DEBUG):
        assert read_lines(_file(tmp_path, text.encode("gbk")), ("utf-8", "gb18030")) == ["你好，世界", "再见"]
    assert "read as gb18030 (not utf-8)" in caplog.text
    assert read_lines(_file(tmp_path, text.encode("utf-8")), ("utf-8", "gb18030")) == ["你好，世界", "再见"]
    spanish = "¿Qué tal, mamá?\n"
    for encoding in ("iso-8859-1", "utf-8"):
        path = _file(tmp_path, spanish.encode(encoding))
        assert read_lines(path, ("utf-8", "iso-8859-1")) == ["¿Qué tal, mamá?"]


def test_undecodable_bytes_name_the_file_line_and_byte(tmp_path):
    path = _file(tmp_path, "ok\nJos\xe9\n".encode("iso-8859-1"))
    with pytest.raises(CorpusError) as info:
        read_lines(path, what="the references")
    message = str(info.value)
    assert f"{path}, line 2: byte 0xe9 is not utf-8 text" in message and "the references" in message
    assert "iconv" in message


def test_missing_file_is_a_corpus_error(tmp_path):
    with pytest.raises(CorpusError, match="cannot read .*nowhere.txt"):
        read_lines(tmp_path / "nowhere.txt")


def test_carriage_returns_are_logged(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        read_lines(_file(tmp_path, b"a\rb\nc\rd\ne\n"))
    assert "2 line(s) hold a carriage return" in caplog.text
