"""Hostile inputs to ``hent-srt bpe``: texts that are all blank, missing translations, bad sizes and output paths,
several manifests of which one is missing; outputs get normal permissions and an earlier model survives a failure."""

from __future__ import annotations

import pytest
from hostile_kit import (
    file_kept,
    mode_is,
    no_temporaries,
    run_cli,
    snapshot,
    succeeded,
    unchanged,
    user_error,
    with_supervision_text,
)


def bpe(capsys, cuts, out, *extra):
    cuts = cuts if isinstance(cuts, list) else [cuts]
    return run_cli(capsys, "bpe", "--cuts", *cuts, "--side", "source", "--vocab-size", "20", "--out-dir", out, *extra)


@pytest.fixture
def earlier(tmp_path):
    out = tmp_path / "bpe"
    out.mkdir()
    (out / "bpe.model").write_bytes(b"an earlier model")
    (out / "tokens.txt").write_text("<blk> 0\n")
    return out, snapshot(out)


@pytest.mark.hostile("traceback")
def test_all_texts_blank_names_the_manifest(raw_cuts, earlier, tmp_path, capsys):
    bad = with_supervision_text(raw_cuts, tmp_path / "cuts_blank.jsonl.gz", {0: " ", 1: "\t", 2: "\u200b"})
    out, before = earlier
    user_error(bpe(capsys, bad, out, "--force"), str(bad))
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_target_side_without_translations_names_the_cut(raw_cuts, earlier, tmp_path, capsys):
    bad = with_supervision_text(raw_cuts, tmp_path / "cuts_untranslated.jsonl.gz", {1: ""}, field="translation")
    out, before = earlier
    outcome = run_cli(capsys, "bpe", "--cuts", bad, "--side", "target", "--vocab-size", "20", "--out-dir", out,
                      "--force")
    user_error(outcome, "tone16000", "translation")
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_other_target_language_names_the_language(raw_cuts, earlier, capsys):
    out, before = earlier
    outcome = run_cli(capsys, "bpe", "--cuts", raw_cuts, "--side", "target", "--vocab-size", "20", "--out-dir", out,
                      "--lang", "fr", "--force")
    user_error(outcome, "'fr'", "tone8000")
    unchanged(before, out)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("size", ["0", "-5", "x"])
def test_bad_vocab_size_names_the_option(raw_cuts, earlier, capsys, size):
    out, before = earlier
    outcome = run_cli(capsys, "bpe", "--cuts", raw_cuts, "--side", "source", "--vocab-size", size, "--out-dir", out,
                      "--force")
    user_error(outcome, "--vocab-size")
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_vocabulary_too_small_for_byte_fallback_says_the_size_needed(raw_cuts, earlier, capsys):
    out, before = earlier
    outcome = run_cli(capsys, "bpe", "--cuts", raw_cuts, "--side", "source", "--vocab-size", "8", "--out-dir", out,
                      "--byte-fallback", "--force")
    user_error(outcome, "--vocab-size", hint="--no-byte-fallback")
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_one_of_several_manifests_missing(raw_cuts, earlier, tmp_path, capsys):
    out, before = earlier
    missing = tmp_path / "cuts_dev.jsonl.gz"
    user_error(bpe(capsys, [raw_cuts, missing], out, "--force"), str(missing))
    unchanged(before, out)


@pytest.mark.hostile("data-loss")
def test_out_dir_that_is_a_file(raw_cuts, tmp_path, capsys):
    target = tmp_path / "bpe"
    target.write_text("a file\n")
    user_error(bpe(capsys, raw_cuts, target), str(target))
    file_kept(target)


@pytest.mark.hostile("files")
def test_outputs_have_normal_permissions(raw_cuts, tmp_path, capsys):
    out = tmp_path / "bpe"
    succeeded(bpe(capsys, raw_cuts, out))
    mode_is(out / "bpe.model")
    mode_is(out / "tokens.txt")
    no_temporaries(out)
