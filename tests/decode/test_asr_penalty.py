"""The ASR blank penalty tuned on dev: the choice rule, and ``hent-srt decode --tune-blank-penalty-asr-on`` on a
tiny model whose right penalty is known by construction (the dev references are its own hypotheses at one
penalty), checked against separate decodes at each penalty, offline and streaming."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from lhotse import CutSet

from hent_srt import cli
from hent_srt.data.features import compute_features
from hent_srt.data.manifest import read_cuts
from hent_srt.decode.asr_penalty import choose_asr_penalty
from hent_srt.decode.setting import DecodeSetting
from hent_srt.metrics import error_rate, read_kaldi_text

GRID = (0.0, 1.0, 2.0, 4.0)


def test_the_lowest_error_rate_wins_and_ties_go_to_the_smaller_penalty():
    assert choose_asr_penalty({0.0: 12.0, 1.0: 7.5, 2.0: 9.0}) == 1.0
    assert choose_asr_penalty({2.0: 5.0, 0.5: 5.0, 1.0: 6.0}) == 0.5
    with pytest.raises(ValueError, match="at least one grid point"):
        choose_asr_penalty({})
    with pytest.raises(ValueError, match="non-finite"):
        choose_asr_penalty({0.0: float("nan"), 1.0: 3.0})


def decode(exp_dir: Path, cuts: Path, out: Path, *extra: str) -> int:
    return cli.main(["decode", "--exp-dir", str(exp_dir), "--checkpoint", str(exp_dir / "epoch-2.pt"),
                     "--cuts", str(cuts), "--out-dir", str(out), "--max-sym-per-frame", "1", "--blank-penalty", "0",
                     *extra])


def only(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


@pytest.fixture(scope="module")
def tone_set(tones, helpers, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("asr_penalty_set")
    helpers.audio_cuts(list(tones.values())).to_file(root / "raw.jsonl.gz")
    return compute_features(root / "raw.jsonl.gz", root, "tones")


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("streaming", [False, True], ids=["offline", "streaming"])
def test_tuning_picks_the_penalty_whose_hypotheses_the_dev_references_are(streaming, tiny_exp, helpers, tone_set,
                                                                           tmp_path):
    exp_dir = helpers.make_experiment(tmp_path / "causal", causal=True).dir if streaming else tiny_exp.dir
    mode = ["--streaming"] if streaming else []
    separate = {}
    for penalty in GRID:  # brute force: one decode per penalty
        out = tmp_path / f"bp{penalty:g}"
        assert decode(exp_dir, tone_set, out, *mode, "--blank-penalty-asr", f"{penalty:g}") == 0
        separate[penalty] = read_kaldi_text(only(out, "hyps-asr-tones-*.txt"))
    words = {p: {i: h.split() for i, h in hyps.items()} for p, hyps in separate.items()}
    target = next((p for p in sorted(GRID, reverse=True)
                   if all(words[p].values()) and all(words[p] != words[q] for q in GRID if q != p)), None)
    assert target is not None, f"the tiny model gives no penalty distinct hypotheses: {separate}"

    dev = tmp_path / "cuts_dev.jsonl.gz"  # references: the hypotheses at the target penalty
    cuts = [replace(c, supervisions=[replace(c.supervisions[0], text=separate[target][c.id])])
            for c in read_cuts(tone_set)]
    CutSet.from_cuts(cuts).to_file(dev)
    out = tmp_path / "tuned"
    assert decode(exp_dir, tone_set, out, *mode, "--tune-blank-penalty-asr-on", str(dev),
                  "--blank-penalty-asr-grid", ",".join(f"{p:g}" for p in GRID)) == 0

    choice = json.loads(only(exp_dir, "asr-blank-penalty-*.json").read_text())
    assert choice["blank_penalty"] == target and choice["dev_set"] == str(dev)
    assert "asrbp" not in choice["setting_tag"]
    ids = sorted(separate[target])
    refs = [separate[target][i] for i in ids]
    for penalty in GRID:
        expected = error_rate(refs, [separate[penalty][i] for i in ids], ids)
        assert choice["dev_error_rate"][f"{penalty:g}"] == pytest.approx(expected.rate)
        assert choice["dev_deletions"][f"{penalty:g}"] == expected.deletions
    assert choice["dev_error_rate"][f"{target:g}"] == 0.0
    # the test set is decoded at the chosen penalty: its files carry it and hold that penalty's hypotheses
    summary_path = only(out, "summary-tones-*.json")
    summary = json.loads(summary_path.read_text())
    assert summary_path.name.endswith(f"-asrbp{target:g}-tuned.json")  # never a fixed-penalty decode's name
    assert summary["setting"]["blank_penalty_asr"] == target
    assert summary["asr"]["blank_penalty_tuning"]["blank_penalty"] == target
    assert read_kaldi_text(only(out, "hyps-asr-tones-*.txt")) == separate[target]


@pytest.mark.usefixtures("one_thread")
def test_a_given_penalty_and_tuning_together_and_a_grid_without_tuning_exit_2(tiny_exp, tone_set, tmp_path, capsys):
    assert decode(tiny_exp.dir, tone_set, tmp_path, "--blank-penalty-asr", "1",
                  "--tune-blank-penalty-asr-on", str(tone_set)) == 2
    assert "either --blank-penalty-asr P or --tune-blank-penalty-asr-on CUTS_DEV" in capsys.readouterr().err
    assert decode(tiny_exp.dir, tone_set, tmp_path, "--blank-penalty-asr-grid", "0,1") == 2
    assert "--blank-penalty-asr-grid needs --tune-blank-penalty-asr-on" in capsys.readouterr().err
    assert not list(tmp_path.glob("summary-*.json"))


def test_a_tuned_penalty_is_named_apart_from_the_same_fixed_one():
    fixed = DecodeSetting(method="greedy", weights="averaged", max_sym_per_frame=1)
    tuned = replace(fixed, blank_penalty_asr_tuned_on="dev")
    assert fixed.tag() == "greedy-sym1-averaged" and tuned.tag() == "greedy-sym1-averaged-asrbp0-tuned"
    assert replace(tuned, blank_penalty_asr=1.5).tag() == "greedy-sym1-averaged-asrbp1.5-tuned"
    assert replace(fixed, blank_penalty_asr=1.5).tag() == "greedy-sym1-averaged-asrbp1.5"
    assert tuned.label().endswith(", ASR blank penalty 0 (tuned on dev)")
