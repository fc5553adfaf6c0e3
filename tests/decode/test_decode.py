"""``hent-srt decode`` as a command: option checks, icefall's flag names, averaging inside decode, file names and
RESULTS.md sections per setting, named errors for weights that do not fit, safe loading, the sweep without
matplotlib, and the import-icefall directory through decode and export."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch

from hent_srt import cli
from hent_srt.data.features import compute_features
from hent_srt.decode.decode import load_experiment
from hent_srt.train.checkpoint import average_checkpoints_with_averaged_model
from hent_srt.train.icefall import to_icefall_names

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def test_set(tiny_exp, tones, helpers, tmp_path_factory) -> Path:
    """Features (``hent-srt features``) of the three tones: a manifest ``cuts_tones.jsonl.gz``."""
    root = tmp_path_factory.mktemp("test_set")
    helpers.audio_cuts(list(tones.values())).to_file(root / "raw.jsonl.gz")
    return compute_features(root / "raw.jsonl.gz", root, "tones")


def decode(exp_dir: Path, cuts: Path, out: Path, *extra: str) -> int:
    return cli.main(["decode", "--exp-dir", str(exp_dir), "--cuts", str(cuts), "--out-dir", str(out), *extra])


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--beam", "0", "--beam/--beam-size: must be >= 1, got 0"),
    ("--beam-size", "-3", "--beam/--beam-size: must be >= 1, got -3"),
    ("--max-sym-per-frame", "0", "--max-sym-per-frame: must be >= 1, got 0"),
    ("--blank-penalty", "1,nan", "--blank-penalty/--st-blank-penalty: expected a comma list of finite numbers"),
    ("--blank-penalty-asr", "inf", "--blank-penalty-asr: must be a finite number"),
    ("--max-duration", "0", "--max-duration: must be > 0"),
    ("--num-threads", "-1", "--num-threads: must be >= 0"),
    ("--chunk-size", "0", "--chunk-size: must be >= 1"),
    ("--epoch", "x", "--epoch: expected an integer >= 1, got 'x'"),
])
def test_bad_options_are_refused_where_they_are_parsed(option, value, message, tiny_exp, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        decode(tiny_exp.dir, tmp_path / "none.jsonl.gz", tmp_path, option, value)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(("decode_section", "message"), [
    ("beam: 0", r"config decode\.beam must be a finite number >= 1, got 0"),
    ("blank_penalty_st: .nan", r"decode\.blank_penalty_st.* finite"),
    ("method: beam", r"config decode\.method must be one of"),
])
def test_bad_config_values_are_refused(decode_section, message, tiny_exp, test_set, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(f"base: {tiny_exp.dir / 'config.yaml'}\ndecode:\n  {decode_section}\n", encoding="utf-8")
    out = tmp_path / "out"
    code = decode(tiny_exp.dir, test_set, out, "--checkpoint", str(tiny_exp.dir / "epoch-2.pt"), "--config", str(config))
    assert code == 2 and re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_icefall_flag_names_are_aliases(tiny_exp, test_set, tmp_path):
    checkpoint = ["--checkpoint", str(tiny_exp.dir / "epoch-2.pt")]
    assert decode(tiny_exp.dir, test_set, tmp_path / "ours", *checkpoint, "--method", "modified_beam_search",
                  "--beam", "3", "--blank-penalty", "0.5") == 0
    assert decode(tiny_exp.dir, test_set, tmp_path / "icefall", *checkpoint, "--decoding-method",
                  "modified_beam_search", "--beam-size", "3", "--st-blank-penalty", "0.5") == 0
    name = "hyps-st-tones-modified_beam_search-beam3-epoch-2-bp0.5.txt"
    assert read(tmp_path / "ours" / name) == read(tmp_path / "icefall" / name)
    assert decode(tiny_exp.dir, test_set, tmp_path / "greedy", *checkpoint, "--decoding-method", "greedy_search") == 0
    assert (tmp_path / "greedy" / "hyps-asr-tones-greedy-sym2-epoch-2.txt").is_file()


def test_two_settings_keep_both_outputs_and_results_sections(tiny_exp, test_set, tmp_path):
    results = tmp_path / "RESULTS.md"
    common = ["--checkpoint", str(tiny_exp.dir / "epoch-2.pt"), "--results-file", str(results),
              "--results-name", "tiny"]
    assert decode(tiny_exp.dir, test_set, tmp_path, *common, "--max-sym-per-frame", "1") == 0
    assert decode(tiny_exp.dir, test_set, tmp_path, *common, "--method", "modified_beam_search",
                  "--blank-penalty", "0,1") == 0
    greedy, beam = "tones-greedy-sym1-epoch-2", "tones-modified_beam_search-beam3-epoch-2"
    for name in (f"hyps-asr-{greedy}.txt", f"errs-asr-{greedy}.txt", f"hyps-st-{greedy}-bp0.txt",
                 f"summary-{greedy}.json", f"hyps-asr-{beam}.txt", f"hyps-st-{beam}-bp0.txt", f"hyps-st-{beam}-bp1.txt",
                 f"bleu-st-{beam}-bp1.txt", f"summary-{beam}.json", "refs-asr-tones.txt", "refs-st-tones.txt"):
        assert (tmp_path / name).is_file(), name
    summary = json.loads(read(tmp_path / f"summary-{beam}.json"))
    assert summary["setting"]["tag"] == "modified_beam_search-beam3-epoch-2" and summary["setting"]["beam"] == 3
    assert [row["blank_penalty"] for row in summary["st"]] == [0.0, 1.0]
    text = read(results)
    assert text.count("## tiny — ") == 2
    assert "## tiny — greedy search (max 1 symbols/frame), epoch-2" in text
    assert "## tiny — modified beam search (beam 3), epoch-2" in text
    # the same setting again replaces its own section
    assert decode(tiny_exp.dir, test_set, tmp_path, *common, "--max-sym-per-frame", "1",
                  "--results-comment", "again") == 0
    text = read(results)
    assert text.count("## tiny — ") == 2 and "| again |" in text


def test_the_real_time_factor_names_its_device_and_thread_count(tiny_exp, test_set, tmp_path, capsys):
    checkpoint = ["--checkpoint", str(tiny_exp.dir / "epoch-2.pt")]
    assert decode(tiny_exp.dir, test_set, tmp_path / "default", *checkpoint) == 0
    assert decode(tiny_exp.dir, test_set, tmp_path / "pinned", *checkpoint, "--num-threads", "2") == 0
    out = capsys.readouterr().out
    name = "summary-tones-greedy-sym2-epoch-2.json"
    default = json.loads(read(tmp_path / "default" / name))
    pinned = json.loads(read(tmp_path / "pinned" / name))
    assert (default["rtf_device"], default["rtf_torch_num_threads"]) == ("cpu", 1)  # the one_thread fixture's count
    assert (pinned["rtf_device"], pinned["rtf_torch_num_threads"]) == ("cpu", 2)
    assert "(cpu, 1 torch threads)" in out and "(cpu, 2 torch threads)" in out
    assert read(tmp_path / "default" / "hyps-asr-tones-greedy-sym2-epoch-2.txt") == \
        read(tmp_path / "pinned" / "hyps-asr-tones-greedy-sym2-epoch-2.txt")


def test_epoch_avg_averages_inside_decode(tiny_exp, test_set, tmp_path):
    args = Namespace(exp_dir=tiny_exp.dir, config=None, checkpoint=None, epoch=2, avg=1, use_averaged_model=True,
                     overrides=[])
    exp = load_experiment(args, torch.device("cpu"))
    expected = average_checkpoints_with_averaged_model(tiny_exp.dir / "epoch-1.pt", tiny_exp.dir / "epoch-2.pt")
    assert exp.weights == "epoch-2-avg-1-use-averaged-model"
    assert all(torch.equal(exp.model.state_dict()[k], v) for k, v in expected.items())
    # (model_avg_2 * 200 - model_avg_1 * 100) / 100 with model_avg_1 = model_avg_2 + 0.01
    name = "heads.st.joiner.output_linear.bias"
    assert torch.allclose(exp.model.state_dict()[name], tiny_exp.model.state_dict()[name] - 0.01, atol=1e-5)
    assert decode(tiny_exp.dir, test_set, tmp_path, "--epoch", "2", "--avg", "1", "--use-averaged-model", "True") == 0
    assert (tmp_path / "hyps-asr-tones-greedy-sym2-epoch-2-avg-1-use-averaged-model.txt").is_file()
    assert decode(tiny_exp.dir, test_set, tmp_path, "--epoch", "2", "--avg", "2", "--use-averaged-model") == 2


def test_weights_that_do_not_fit_name_the_config_field(tiny_exp, test_set, tmp_path, capsys):
    code = decode(tiny_exp.dir, test_set, tmp_path, "--checkpoint", str(tiny_exp.dir / "epoch-2.pt"),
                  "--set", "model.decoder_dim=32", "--set", "model.asr_encoder.feedforward_dim=48,64")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "model.asr_encoder.feedforward_dim is [48, 64] in the config but [48, 48] in the checkpoint" in err
    assert "model.decoder_dim is 32 in the config but 24 in the checkpoint" in err
    assert "first tensor that differs: encoder_embed" not in err and "expected shape" in err


def test_a_crafted_checkpoint_is_refused(tiny_exp, test_set, tmp_path, capsys):
    target = tmp_path / "made-by-the-pickle"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(target),)

    torch.save({"model": tiny_exp.model.state_dict(), "extra": Payload()}, tmp_path / "evil.pt")
    assert decode(tiny_exp.dir, test_set, tmp_path / "out", "--checkpoint", str(tmp_path / "evil.pt")) == 2
    assert "refused" in capsys.readouterr().err and not target.exists() and not (tmp_path / "out").exists()


def test_the_sweep_without_matplotlib_writes_everything_else(tiny_exp, test_set, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    results = tmp_path / "RESULTS.md"
    with caplog.at_level(logging.WARNING):
        code = decode(tiny_exp.dir, test_set, tmp_path, "--checkpoint", str(tiny_exp.dir / "epoch-2.pt"),
                      "--blank-penalty", "0,1,2", "--results-file", str(results))
    assert code == 0 and "matplotlib is not installed" in caplog.text
    summary = json.loads(read(tmp_path / "summary-tones-greedy-sym2-epoch-2.json"))
    assert [row["blank_penalty"] for row in summary["st"]] == [0.0, 1.0, 2.0]
    assert results.is_file() and not list(tmp_path.glob("*.png"))


def test_an_imported_directory_decodes_and_exports_like_the_native_one(tiny_exp, test_set, tmp_path, capsys):
    icefall_state, _ = to_icefall_names(tiny_exp.model.state_dict())
    torch.save({"model": icefall_state}, tmp_path / "pretrained-icefall.pt")
    imported = tmp_path / "imported"
    data = tiny_exp.config.data
    assert cli.main(["import-icefall", "--checkpoint", str(tmp_path / "pretrained-icefall.pt"), "--out-dir",
                     str(imported), "--bpe-model", data.src_bpe_model, "--bpe-st-model", data.tgt_bpe_model,
                     "--config", str(tiny_exp.dir / "config.yaml")]) == 0
    assert decode(imported, test_set, tmp_path / "imported-decode") == 0
    assert decode(tiny_exp.dir, test_set, tmp_path / "native-decode", "--checkpoint", str(tiny_exp.dir / "epoch-2.pt")) == 0
    for task, suffix in (("asr", ""), ("st", "-bp0")):
        native = read(tmp_path / "native-decode" / f"hyps-{task}-tones-greedy-sym2-epoch-2{suffix}.txt")
        assert read(tmp_path / "imported-decode" / f"hyps-{task}-tones-greedy-sym2-pretrained{suffix}.txt") == native
    # an icefall experiment directory decodes in place with the imported config (icefall's --epoch/--avg)
    icefall_exp = tmp_path / "icefall-exp"
    icefall_exp.mkdir()
    for epoch in (1, 2):
        ckpt = torch.load(tiny_exp.dir / f"epoch-{epoch}.pt", weights_only=True)
        renamed = {key: to_icefall_names(ckpt[key])[0] for key in ("model", "model_avg")}
        torch.save({**renamed, "batch_idx_train": ckpt["batch_idx_train"]}, icefall_exp / f"epoch-{epoch}.pt")
    args = Namespace(exp_dir=icefall_exp, config=imported / "config.yaml", checkpoint=None, epoch=2, avg=1,
                     use_averaged_model=True, overrides=[])
    native = Namespace(exp_dir=tiny_exp.dir, config=None, checkpoint=None, epoch=2, avg=1, use_averaged_model=True,
                       overrides=[])
    in_place, reference = load_experiment(args, torch.device("cpu")), load_experiment(native, torch.device("cpu"))
    assert all(torch.equal(in_place.model.state_dict()[k], v) for k, v in reference.model.state_dict().items())
    capsys.readouterr()
    assert cli.main(["export", "--exp-dir", str(imported), "--checkpoint", str(imported / "pretrained.pt"),
                     "--torchscript", "--verify-cuts", str(test_set), "--verify-num", "3"]) == 0
    assert "torchscript" in capsys.readouterr().out and (imported / "export" / "model.pt").is_file()
