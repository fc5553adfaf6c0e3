"""Hostile inputs to ``hent-srt decode``: bad search options, weights that are damaged or do not fit, test sets
without features, with repeated ids, blank references or cuts too short to decode, missing tokenizers, output
paths that are not directories; a failed decode leaves the earlier results as they were."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hostile_kit import (
    fail,
    file_kept,
    manifest_lines,
    mode_is,
    no_temporaries,
    run_cli,
    snapshot,
    succeeded,
    truncated,
    unchanged,
    user_error,
    with_supervision_text,
    write_gz_lines,
)


@pytest.fixture
def decode(exp, feats, tmp_path, capsys):
    """``decode(*extra, cuts=feats, checkpoint=epoch-2.pt)``: the outcome of ``hent-srt decode`` into
    tmp_path/out, which holds the results of an earlier decode (``decode.before`` is their snapshot)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "hyps-asr-test-earlier.txt").write_text("tone8000 hola\n")
    (out / "summary-test-earlier.json").write_text("{}\n")

    def run(*extra, cuts=feats, checkpoint=exp.dir / "epoch-2.pt"):
        weights = ["--checkpoint", checkpoint] if checkpoint is not None else []
        return run_cli(capsys, "decode", "--exp-dir", exp.dir, *weights, "--cuts", cuts, "--out-dir", out, *extra)

    run.out = out
    run.before = snapshot(out)
    return run


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("option", "value"), [
    ("--beam", "-3"), ("--beam", "0"), ("--beam-size", "x"), ("--blank-penalty", "nan"),
    ("--blank-penalty", "0,inf"), ("--blank-penalty", ","), ("--blank-penalty-asr", "-inf"), ("--max-duration", "0"),
    ("--max-duration", "nan"), ("--max-sym-per-frame", "0"), ("--chunk-size", "-1"), ("--left-context", "-1"),
    ("--epoch", "0"), ("--avg", "-1"), ("--use-averaged-model", "maybe"),
])
def test_bad_option_is_refused_where_it_is_parsed(decode, option, value):
    user_error(decode(option, value), option.split("/")[0])
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("extra", "names"), [
    (["--chunk-size", "16"], ["--chunk-size", "--streaming"]),
    (["--streaming", "--method", "modified_beam_search"], ["--streaming", "--method"]),
    (["--epoch", "2", "--avg", "1"], ["--checkpoint", "--epoch"]),  # with --checkpoint: both given
])
def test_conflicting_options(decode, extra, names):
    user_error(decode(*extra), *names)
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("message")
def test_streaming_on_a_model_that_is_not_causal(decode):
    user_error(decode("--streaming"), "causal")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_truncated_checkpoint(decode, exp, tmp_path):
    bad = truncated(exp.dir / "epoch-2.pt", tmp_path / "epoch-9.pt")
    user_error(decode(checkpoint=bad), str(bad), hint="truncated|damaged|corrupt")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_text_file_as_checkpoint(decode, tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("these are not weights\n")
    user_error(decode(checkpoint=bad), str(bad))
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_checkpoint_without_weights(decode, tmp_path):
    bad = tmp_path / "other.pt"
    torch.save({"epoch": 3, "optimizer": {}}, bad)
    user_error(decode(checkpoint=bad), str(bad), "model")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_checkpoint_that_does_not_fit_the_config(decode):
    user_error(decode("--set", "model.decoder_dim=16"), "model.decoder_dim")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("message")
def test_missing_epochs_for_averaging(decode):
    user_error(decode("--epoch", "5", "--avg", "2", checkpoint=None), "epoch-4.pt", "epoch-5.pt")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_averaged_model_missing_from_the_checkpoint(decode, exp, tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"model": torch.load(exp.dir / "epoch-2.pt", weights_only=True)["model"]}, plain)
    user_error(decode("--use-averaged-model", checkpoint=plain), str(plain), "model_avg")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("message")
def test_experiment_without_config(decode, exp, tmp_path, feats, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(exp.dir / "epoch-2.pt", bare)
    outcome = run_cli(capsys, "decode", "--exp-dir", bare, "--cuts", feats, "--out-dir", decode.out)
    user_error(outcome, str(bare / "config.yaml"), hint="--config")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_missing_tokenizer(decode, tmp_path):
    missing = tmp_path / "bpe.model"
    user_error(decode("--set", f"data.src_bpe_model={missing}"), str(missing))
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_empty_tokenizer_setting(decode):
    user_error(decode("--set", "data.tgt_bpe_model="), "data.tgt_bpe_model")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("silent")
def test_tokenizer_that_does_not_fit_the_head(decode, exp, makers, tmp_path):
    other = makers.train_chars(tmp_path / "other.model", "abcdefghijklmnopqrstuvwxyz0123456789 äöüß")
    user_error(decode("--set", f"data.src_bpe_model={other}"), str(other), "asr_vocab_size")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("traceback")
def test_cuts_without_features(decode, raw_cuts):
    user_error(decode(cuts=raw_cuts), str(raw_cuts), hint="hent-srt features|--on-the-fly-features")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("silent")
def test_duplicate_cut_ids_with_different_content(decode, feats, tmp_path):
    # two different utterances under one id must not be scored against each other's references
    lines = manifest_lines(feats)
    twin = json.loads(lines[1])
    twin["id"] = json.loads(lines[0])["id"]
    twin["supervisions"][0]["text"] = "otra cosa"
    bad = tmp_path / "cuts_dup.jsonl.gz"
    write_gz_lines(bad, [lines[0], json.dumps(twin), lines[2]])
    feats_dir = feats.parent
    for arrays in feats_dir.glob("feats_test-*"):
        shutil.copytree(arrays, tmp_path / arrays.name)
    user_error(decode(cuts=bad), str(bad), "tone8000", "duplicate")
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("field", "text", "kind"), [
    ("text", " ", "whitespace-only"), ("text", "", "empty"), ("translation", "\u200b", "invisible"),
])
def test_blank_reference_names_the_cut(decode, feats, tmp_path, field, text, kind):
    bad = with_supervision_text(feats, tmp_path / "cuts_blank.jsonl.gz", {2: text}, field=field)
    for arrays in feats.parent.glob("feats_test-*"):
        shutil.copytree(arrays, tmp_path / arrays.name)
    user_error(decode(cuts=bad), str(bad), "tone44100", kind)
    unchanged(decode.before, decode.out)


@pytest.mark.hostile("silent")
def test_cut_too_short_to_decode_is_not_dropped_silently(decode, makers, tmp_path):
    # a 50 ms utterance gives no encoder frame: it is named, not left out of the score
    audio = [makers.write_tone(tmp_path / "long.wav", 300.0, 1.0, 16000), makers.write_tone(tmp_path / "blip.wav",
                                                                                             400.0, 0.05, 16000)]
    cuts = tmp_path / "cuts_short.jsonl.gz"
    makers.audio_cuts(audio).to_file(cuts)
    outcome = decode("--on-the-fly-features", cuts=cuts)
    if outcome.code == 0:
        summaries = list(decode.out.glob("summary-short-*.json"))
        counted = json.loads(summaries[0].read_text())["num_utterances"] if summaries else None
        hyps = list(decode.out.glob("hyps-asr-short-*.txt"))
        scored = hyps[0].read_text().split("\n") if hyps else []
        if counted != 2 or not any(line.startswith("blip") for line in scored):
            fail("silent", f"the short cut was left out of the score (utterances {counted}, hyps {scored})")
    else:
        user_error(outcome, "blip")
        unchanged(decode.before, decode.out)


@pytest.mark.hostile("data-loss")
def test_out_dir_that_is_a_file(exp, feats, tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("a file\n")
    outcome = run_cli(capsys, "decode", "--exp-dir", exp.dir, "--checkpoint", exp.dir / "epoch-2.pt", "--cuts",
                      feats, "--out-dir", target)
    user_error(outcome, str(target))
    file_kept(target)


@pytest.mark.hostile("traceback")
def test_results_file_that_is_a_directory(decode, tmp_path):
    user_error(decode("--results-file", tmp_path), "--results-file", str(tmp_path))
    if list(decode.out.glob("hyps-asr-test-greedy*")):
        fail("files", "the decode wrote its outputs before refusing --results-file")


@pytest.mark.hostile("files")
def test_outputs_have_normal_permissions_and_no_temporaries(decode, tmp_path):
    succeeded(decode("--blank-penalty", "0,1"))
    written = sorted(p for p in decode.out.iterdir() if not p.name.startswith("."))
    assert len(written) > 4
    for path in written:
        mode_is(path)
    no_temporaries(decode.out)
    if (decode.out / "hyps-asr-test-earlier.txt").read_text() != "tone8000 hola\n":
        fail("data-loss", "an earlier decode's hypotheses were changed")
