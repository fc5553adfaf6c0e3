"""Hostile inputs to ``hent-srt score``: empty, mismatched, repeated, non-UTF-8 and blank score files, bad metrics,
``--errs-out`` paths that cannot be written; a byte-order mark does not shift the ids."""

from __future__ import annotations

import pytest
from hostile_kit import fail, mode_is, run_cli, succeeded, user_error


def files(tmp_path, hyp: str | bytes, ref: str | bytes):
    paths = []
    for name, text in (("hyp.txt", hyp), ("ref.txt", ref)):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        paths.append(path)
    return paths


def score(capsys, hyp, ref, *extra):
    return run_cli(capsys, "score", "--hyp", hyp, "--ref", ref, *extra)


@pytest.mark.hostile("traceback")
def test_both_files_empty(tmp_path, capsys):
    hyp, ref = files(tmp_path, "", "")
    user_error(score(capsys, hyp, ref), str(hyp), str(ref), hint="utt-id text")


@pytest.mark.hostile("message")
def test_empty_hypotheses_for_a_test_set(tmp_path, capsys):
    hyp, ref = files(tmp_path, "", "u1 a b\nu2 c\n")
    user_error(score(capsys, hyp, ref), str(hyp), "u1")


@pytest.mark.hostile("message")
def test_ids_on_one_side_only(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\nu3 c\n", "u1 a\nu2 b\n")
    user_error(score(capsys, hyp, ref), "u2", "u3", hint="same test set")


@pytest.mark.hostile("silent")
def test_repeated_id_names_file_and_line(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\nu2 b\nu1 c\n", "u1 a\nu2 b\n")
    user_error(score(capsys, hyp, ref), f"{hyp}:3", "u1")


@pytest.mark.hostile("message")
def test_non_utf8_names_file_and_line(tmp_path, capsys):
    hyp, ref = files(tmp_path, b"u1 a\nu2 caf\xe9\n", "u1 a\nu2 b\n")
    user_error(score(capsys, hyp, ref), f"{hyp}:2", hint="UTF-8")


@pytest.mark.hostile("silent")
def test_blank_references_make_the_error_rate_undefined(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\nu2 b\n", "u1  \nu2\n")
    user_error(score(capsys, hyp, ref), str(ref), hint="--metrics bleu")


@pytest.mark.hostile("message")
@pytest.mark.parametrize("metrics", ["wer", "", "er,blue"])
def test_unknown_metric(tmp_path, capsys, metrics):
    hyp, ref = files(tmp_path, "u1 a\n", "u1 a\n")
    user_error(score(capsys, hyp, ref, "--metrics", metrics), "--metrics")


@pytest.mark.hostile("traceback")
def test_missing_hypotheses(tmp_path, capsys):
    _, ref = files(tmp_path, "", "u1 a\n")
    user_error(score(capsys, tmp_path / "nope.txt", ref), "--hyp", str(tmp_path / "nope.txt"))


@pytest.mark.hostile("traceback")
def test_reference_that_is_a_directory(tmp_path, capsys):
    hyp, _ = files(tmp_path, "u1 a\n", "u1 a\n")
    user_error(score(capsys, hyp, tmp_path), "--ref", str(tmp_path))


@pytest.mark.hostile("traceback")
def test_errs_out_naming_a_directory(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\n", "u1 a\n")
    user_error(score(capsys, hyp, ref, "--errs-out", tmp_path), "--errs-out", str(tmp_path))


@pytest.mark.hostile("traceback")
def test_errs_out_below_a_file(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\n", "u1 a\n")
    user_error(score(capsys, hyp, ref, "--errs-out", hyp / "errs.txt"), "--errs-out", str(hyp))


@pytest.mark.hostile("silent")
def test_errs_out_without_error_rate(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\n", "u1 a\n")
    user_error(score(capsys, hyp, ref, "--metrics", "bleu", "--errs-out", tmp_path / "e.txt"), "--errs-out")


@pytest.mark.hostile("data-loss")
def test_failed_score_keeps_an_earlier_errs_out(tmp_path, capsys):
    hyp, ref = files(tmp_path, "u1 a\nu9 b\n", "u1 a\n")
    errs = tmp_path / "errs.txt"
    errs.write_text("an earlier report\n")
    user_error(score(capsys, hyp, ref, "--errs-out", errs), "u9")
    if errs.read_text() != "an earlier report\n":
        fail("data-loss", f"{errs} was overwritten by a failed run")


@pytest.mark.hostile("silent")
def test_byte_order_mark_does_not_change_the_ids(tmp_path, capsys):
    hyp, ref = files(tmp_path, "\ufeffu1 a b\nu2 c\n", "u1 a b\nu2 c\n")
    outcome = score(capsys, hyp, ref, "--metrics", "er", "--errs-out", tmp_path / "errs.txt")
    succeeded(outcome)
    if "0.00" not in outcome.out:
        fail("silent", f"identical texts did not score 0 errors:\n{outcome.out}")
    mode_is(tmp_path / "errs.txt")
