"""``hent-srt score`` on bad input: exit 2 with a message naming the file or option; nothing written."""

from __future__ import annotations

import pytest

from hent_srt.cli import main


def score(tmp_path, capsys, hyp: bytes, ref: bytes, *extra: str) -> tuple[int, str, str]:
    (tmp_path / "hyp.txt").write_bytes(hyp)
    (tmp_path / "ref.txt").write_bytes(ref)
    code = main(["score", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "ref.txt"), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_good_input_scores_and_writes_the_details(tmp_path, capsys):
    errs = tmp_path / "out" / "errs.txt"
    code, out, err = score(tmp_path, capsys, b"u1 a b c\nu2 d\n", b"u1 a x c\nu2 d\n", "--errs-out", str(errs))
    assert (code, err) == (0, "")
    assert "WER 25.00% [ 1 / 4, 0 ins, 0 del, 1 sub ]" in out
    assert errs.read_text().startswith("WER 25.00%")


@pytest.mark.parametrize(
    "hyp, ref, extra, named",
    [
        (b"", b"", (), "hold no utterances"),
        (b"\n  \n", b"\n", (), "hold no utterances"),
        (b"u1 a\nu2 b\n", b"u1 a\nu3 b\n", (), "u3"),
        (b"u1 a\nu1 b\n", b"u1 a\n", (), "hyp.txt:2: duplicate utterance id 'u1'"),
        (b"u1 a\n", b"u1 a\nu1 a\n", (), "ref.txt:2: duplicate utterance id 'u1'"),
        (b"u1 caf\xe9\n", b"u1 cafe\n", (), "hyp.txt:1: not UTF-8 text (byte 0xe9)"),
        (b"u1 a\n", b"u1 \xff\n", (), "ref.txt:1: not UTF-8"),
        (b"u1 a\nu2 b\n", b"u1\nu2\n", (), "no reference words"),
        (b"u1 a\n", b"u1 a\n", ("--metrics", ","), "--metrics ',' names no metric"),
        (b"u1 a\n", b"u1 a\n", ("--metrics", "wer"), "unknown ['wer']"),
        (b"u1 a\n", b"u1 a\n", ("--metrics", "bleu", "--errs-out", "e.txt"), "--errs-out holds error-rate details"),
    ],
)
def test_bad_input_is_a_named_error(tmp_path, capsys, hyp, ref, extra, named):
    code, out, err = score(tmp_path, capsys, hyp, ref, *extra)
    assert code == 2
    assert named in err and err.startswith("hent-srt score: ") and err.count("\n") == 1
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyp.txt", "ref.txt"]


def test_errs_out_naming_a_directory_is_refused_before_scoring(tmp_path, capsys):
    target = tmp_path / "results"
    target.mkdir()
    code, out, err = score(tmp_path, capsys, b"u1 a\n", b"u1 a\n", "--errs-out", str(target))
    assert code == 2 and f"--errs-out: {target} is a directory" in err and out == ""
    assert list(target.iterdir()) == []


def test_missing_or_directory_inputs_name_the_option(tmp_path, capsys):
    (tmp_path / "ref.txt").write_text("u1 a\n")
    assert main(["score", "--hyp", str(tmp_path / "none.txt"), "--ref", str(tmp_path / "ref.txt")]) == 2
    assert "--hyp: " in capsys.readouterr().err
    assert main(["score", "--hyp", str(tmp_path / "ref.txt"), "--ref", str(tmp_path)]) == 2
    assert f"--ref: {tmp_path} is a directory" in capsys.readouterr().err


def test_the_second_reference_must_cover_the_same_ids(tmp_path, capsys):
    (tmp_path / "ref2.txt").write_text("u1 a\n")
    code, _, err = score(tmp_path, capsys, b"u1 a\nu2 b\n", b"u1 a\nu2 b\n", "--ref", str(tmp_path / "ref2.txt"))
    assert code == 2 and "ref2.txt" in err and "u2" in err
