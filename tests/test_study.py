"""STUDY.md aggregation: the dev-chosen blank penalty, mean ± sample std over seeds, ASR degradation, split columns,
the adaptive-penalty table, missing runs; and the summaries found where and as ``hent-srt decode`` writes them."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from lhotse import MonoCut

from hent_srt.config import config_to_dict, load_config
from hent_srt.data.schema import make_supervision
from hent_srt.decode.decode import Hypotheses, score_and_write
from hent_srt.decode.setting import DecodeSetting
from hent_srt.study import find_summary, format_study, main, mean_std, run_dir

REPO_CONF = Path(__file__).resolve().parents[1] / "egs" / "mini" / "conf"

SIG = "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0"
TAG = "greedy-sym20-averaged"  # the setting of egs/mini's stage-5 decode, as it names its files


def _split(bleu: float) -> dict:
    return {"all": {"num_segments": 5, "bleu": bleu, "chrf": 50.0, "ribes": 80.0},
            "monotone": {"num_segments": 2, "bleu": bleu + 5, "chrf": 55.0, "ribes": 90.0},
            "reordered": {"num_segments": 3, "bleu": bleu - 5, "chrf": 45.0, "ribes": 70.0},
            "reordered_10": {"num_segments": 0}}


def _summary(wer: float, bleu_by_penalty: dict[float, float] | None, metric: str = "WER") -> dict:
    out = {"set": "x", "asr": {"metric": metric, "error_rate": wer}}
    if bleu_by_penalty is not None:
        out["st"] = [{"blank_penalty": p, "bleu": b, "chrf": b + 10, "length_ratio": 0.9, "bleu_signature": SIG,
                      "reordering": _split(b)} for p, b in bleu_by_penalty.items()]
    return out


def _write(exp_root, pair, seed, name, cr, split, summary, subdir: str = "") -> None:
    decode = run_dir(exp_root, pair, seed, name, cr) / "decode" / subdir
    decode.mkdir(parents=True, exist_ok=True)
    (decode / f"summary-{split}-{TAG}.json").write_text(json.dumps(summary))


def _adaptive_summary(bleu: float, constant_bleu: float, estimator: str) -> dict:
    out = _summary(2.0, {1.0: constant_bleu})
    out["st_adaptive"] = {"blank_penalty": "adaptive", "bleu": bleu, "estimator": estimator,
                          "dev_best_constant": {"blank_penalty": 1.0, "bleu": constant_bleu}}
    return out


def _table(text: str, pair: str) -> list[list[str]]:
    section = text.split(f"## {pair}\n\n")[1].split("\n\n")[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]


def test_penalty_chosen_on_dev_and_mean_std_over_seeds(tmp_path):
    test_bleu = {1: {0.0: 30.0, 1.0: 20.0}, 2: {0.0: 31.0, 1.0: 22.0}}
    # dev prefers penalty 1 for both seeds: the test BLEU at penalty 1 counts, though penalty 0 is better on test
    for seed in (1, 2):
        _write(tmp_path, "zh-en", seed, "hier1", True, "dev", _summary(9.0, {0.0: 10.0, 1.0: 12.0}))
        _write(tmp_path, "zh-en", seed, "hier1", True, "test", _summary(4.0 + seed, test_bleu[seed], "CER"))
        _write(tmp_path, "zh-en", seed, "asr_pretrain", True, "test", _summary(3.0, None, "CER"))
    text, missing = format_study(tmp_path, ["zh-en"], [1, 2], ["hier1"], [True], command="bash study.sh")
    header, row = _table(text, "zh-en")
    assert header[3:5] == ["test CER", "CER stage 4 − stage 3"]
    assert row[:3] == ["hier1", "yes", "1 2"]
    assert row[3] == f"5.50 ± {statistics.stdev([5.0, 6.0]):.2f}"  # test CER 5 and 6
    assert row[4] == f"2.50 ± {statistics.stdev([2.0, 3.0]):.2f}"  # minus the stage-3 CER 3
    assert row[5] == f"21.00 ± {statistics.stdev([20.0, 22.0]):.2f}"
    assert header[8:11] == ["BLEU mono. (2)", "BLEU reord. (3)", "BLEU reord. >= 10 (0)"]
    assert row[8] == f"26.00 ± {statistics.stdev([25.0, 27.0]):.2f}" and row[10] == "—"
    assert row[-1] == "1 1" and missing == []
    assert f"`{SIG}`" in text and "bash study.sh" in text


def test_missing_runs_are_listed_and_one_seed_has_no_std(tmp_path):
    _write(tmp_path, "es-en", 1, "nt_shared", False, "dev", _summary(9.0, {0.5: 10.0}))
    _write(tmp_path, "es-en", 1, "nt_shared", False, "test", _summary(2.0, {0.5: 40.0}))
    _write(tmp_path, "es-en", 1, "asr_pretrain", False, "test", _summary(2.5, None))
    text, missing = format_study(tmp_path, ["es-en"], [1, 2], ["nt_shared"], [True, False])
    (row,) = _table(text, "es-en")[1:]
    assert row[:6] == ["nt_shared", "no", "1", "2.00", "-0.50", "40.00"]
    assert missing == ["es-en nt_shared with CR-CTC, seed 1", "es-en nt_shared with CR-CTC, seed 2",
                       "es-en nt_shared without CR-CTC, seed 2"]
    assert "Runs not found" in text


def test_a_second_test_split_gets_its_own_tables_at_the_dev_chosen_penalty(tmp_path):
    for seed in (1, 2):
        _write(tmp_path, "es-en", seed, "hier1", False, "dev", _summary(9.0, {0.0: 10.0, 1.0: 12.0}))
        _write(tmp_path, "es-en", seed, "hier1", False, "test", _summary(4.0, {0.0: 30.0, 1.0: 20.0}))
        _write(tmp_path, "es-en", seed, "asr_pretrain", False, "test", _summary(3.0, None))
    for seed, bleu in ((1, 41.0), (2, 43.0)):  # penalty 1 (chosen on dev) counts on test2 as on test
        _write(tmp_path, "es-en", seed, "hier1", False, "test2", _summary(5.0 + seed, {0.0: 50.0, 1.0: bleu}))
    _write(tmp_path, "es-en", 1, "asr_pretrain", False, "test2", _summary(4.0, None))
    text, missing = format_study(tmp_path, ["es-en"], [1, 2], ["hier1"], [False], test_splits=("test", "test2"))
    assert _table(text, "es-en")[1][:6] == ["hier1", "no", "1 2", "4.00 ± 0.00", "1.00 ± 0.00", "20.00 ± 0.00"]
    header, row = _table(text, "es-en: test split test2")
    assert header[3] == "test2 WER" and row[:6] == ["hier1", "no", "1", "6.00", "2.00", "41.00"]
    assert missing == ["es-en hier1 without CR-CTC, seed 2 on test2"]  # its stage-3 model lacks test2


def test_mean_std_cells():
    assert mean_std([]) == "—" and mean_std([1.234]) == "1.23"
    assert mean_std([1.0, 3.0]) == f"2.00 ± {statistics.stdev([1.0, 3.0]):.2f}"
    assert mean_std([0.5], signed=True) == "+0.50" and mean_std([-1.0, -2.0], signed=True).startswith("-1.50 ± ")


def test_cli_writes_the_file_and_rejects_bad_arguments(tmp_path, capsys):
    out = tmp_path / "STUDY.md"
    assert main(["--exp-root", str(tmp_path), "--pairs", "es-en", "--seeds", "1", "--models", "hier1",
                 "--out", str(out)]) == 0
    assert out.read_text().startswith("# egs/mini study") and "Runs not found" in out.read_text()
    assert main(["--exp-root", str(tmp_path), "--pairs", "es-en", "--seeds", "one", "--models", "hier1",
                 "--out", str(out)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_a_test_summary_without_the_dev_chosen_penalty_is_an_error(tmp_path):
    _write(tmp_path, "es-en", 1, "hier1", True, "dev", _summary(9.0, {2.0: 10.0}))
    _write(tmp_path, "es-en", 1, "hier1", True, "test", _summary(2.0, {0.0: 40.0}))
    _write(tmp_path, "es-en", 1, "asr_pretrain", True, "test", _summary(2.5, None))
    with pytest.raises(ValueError, match="blank penalty 2"):
        format_study(tmp_path, ["es-en"], [1], ["hier1"], [True])


def test_the_summaries_are_found_under_the_names_the_decode_writes(tmp_path):
    cut = MonoCut(id="u0", start=0.0, duration=1.0, channel=0,
                  supervisions=[make_supervision("u0", "u0", 0.0, 1.0, 0, "hola", "es", "hello")])
    hyps = Hypotheses(asr={"u0": "hola"}, st={1.0: {"u0": "hello"}}, audio_seconds=1.0)
    setting = DecodeSetting(method="greedy", weights="averaged", beam=None, max_sym_per_frame=20, streaming=False,
                            chunking=(), blank_penalty_asr=0.0)
    decode = run_dir(tmp_path, "es-en", 1, "hier1", False) / "decode"
    score_and_write(hyps, [cut], "test", decode, setting=setting)
    assert find_summary(decode, "test") == decode / f"summary-test-{TAG}.json"
    assert find_summary(decode, "dev") is None
    score_and_write(hyps, [cut], "test", decode, setting=DecodeSetting(
        method="greedy", weights="epoch-3", beam=None, max_sym_per_frame=20, streaming=False, chunking=(),
        blank_penalty_asr=0.0))
    with pytest.raises(ValueError, match="several decoding settings for test .*move the others away"):
        find_summary(decode, "test")


def test_the_adaptive_table_gives_each_estimator_against_the_constant_of_its_decode(tmp_path):
    adaptive = {1: {"asr_length": (30.0, 31.0), "st_ctc": (33.0, 31.0)},
                2: {"asr_length": (40.0, 39.0), "st_ctc": (42.0, 39.0)}}
    for seed in (1, 2):
        _write(tmp_path, "ar-en", seed, "hier1", False, "dev", _summary(9.0, {1.0: 10.0}))
        _write(tmp_path, "ar-en", seed, "hier1", False, "test", _summary(2.0, {1.0: 31.0 + 8 * (seed - 1)}))
        _write(tmp_path, "ar-en", seed, "asr_pretrain", False, "test", _summary(3.0, None))
        for estimator, (bleu, constant) in adaptive[seed].items():
            _write(tmp_path, "ar-en", seed, "hier1", False, "test", _adaptive_summary(bleu, constant, estimator),
                   f"adaptive-{estimator}")
    text, missing = format_study(tmp_path, ["ar-en"], [1, 2], ["hier1"], [False],
                                 estimators=["asr_length", "st_ctc"])
    assert missing == []
    section = text.split("Adaptive ST blank penalty on ar-en")[1]
    header, row = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
                   if line.startswith("| ")]
    assert header[3:] == ["BLEU at the dev-tuned constant", "adaptive (asr_length)", "adaptive (asr_length) − constant",
                          "adaptive (st_ctc)", "adaptive (st_ctc) − constant"]
    assert row[:3] == ["hier1", "no", "1 2"]
    assert row[3] == f"35.00 ± {statistics.stdev([31.0, 39.0]):.2f}"
    assert row[5] == f"+0.00 ± {statistics.stdev([-1.0, 1.0]):.2f}"  # -1 and +1
    assert row[7] == f"+2.50 ± {statistics.stdev([2.0, 3.0]):.2f}"  # +2 and +3
    # a decode of the wrong estimator is refused, a missing one listed
    _write(tmp_path, "ar-en", 2, "hier1", False, "test", _adaptive_summary(1.0, 1.0, "asr_length"), "adaptive-st_ctc")
    with pytest.raises(ValueError, match="decoded with the estimator 'asr_length', not 'st_ctc'"):
        format_study(tmp_path, ["ar-en"], [1, 2], ["hier1"], [False], estimators=["st_ctc"])
    _, missing = format_study(tmp_path, ["ar-en"], [1, 2], ["hier1"], [False], estimators=["oracle"])
    assert missing == ["ar-en hier1 without CR-CTC, seed 1, adaptive oracle",
                       "ar-en hier1 without CR-CTC, seed 2, adaptive oracle"]


def test_the_asr_only_reference_gives_the_cost_of_joint_training_per_seed(tmp_path):
    # stage-3 CER 80 (far from converged), stage 4: joint 10 / 12, ASR-only reference 8 / 11
    for seed, joint, reference in ((1, 10.0, 8.0), (2, 12.0, 11.0)):
        _write(tmp_path, "zh-en", seed, "hier1", False, "dev", _summary(9.0, {1.0: 12.0}))
        _write(tmp_path, "zh-en", seed, "hier1", False, "test", _summary(joint, {1.0: 20.0}, "CER"))
        _write(tmp_path, "zh-en", seed, "asr_pretrain", False, "test", _summary(80.0, None, "CER"))
        if seed == 1:
            _write(tmp_path, "zh-en", seed, "asr_only", False, "test", _summary(reference, None, "CER"))
    text, missing = format_study(tmp_path, ["zh-en"], [1, 2], ["hier1"], [False], asr_only="asr_only")
    header, row = _table(text, "zh-en")
    assert header[3:7] == ["test CER", "CER stage 4 − stage 3", "CER − ASR-only", "BLEU"]
    assert row[4] == f"-69.00 ± {statistics.stdev([-70.0, -68.0]):.2f}" and row[5] == "+2.00 (seed 1)"
    assert missing == ["zh-en ASR-only reference asr_only, seed 2"]
    _write(tmp_path, "zh-en", 2, "asr_only", False, "test", _summary(11.0, None, "CER"))
    text, missing = format_study(tmp_path, ["zh-en"], [1, 2], ["hier1"], [False], asr_only="asr_only")
    assert _table(text, "zh-en")[1][5] == f"+1.50 ± {statistics.stdev([2.0, 1.0]):.2f}" and missing == []
    # without --asr-only the table has no such column
    assert "ASR-only" not in _table(format_study(tmp_path, ["zh-en"], [1, 2], ["hier1"], [False])[0], "zh-en")[0]


@pytest.mark.parametrize("name, joint", [("asr_only", "hent_srt"), ("asr_only_cr", "hent_srt_cr")])
def test_the_asr_only_confs_are_their_stage4_twins_without_the_st_task(name, joint):
    reference = config_to_dict(load_config(REPO_CONF / f"{name}.yaml"))
    twin = config_to_dict(load_config(REPO_CONF / f"{joint}.yaml"))
    assert reference["model"].pop("tasks") == ["asr"] and twin["model"].pop("tasks") == ["asr", "st"]
    assert reference == twin  # the same losses, data, schedule and model otherwise


def test_the_asr_tuned_study_reads_the_tuned_decodes_and_tables_each_seeds_choice(tmp_path):
    # each run dir holds a decode at the fixed ASR penalty 0 and one tuned on dev; the two tables read one each
    def both(pair, seed, name, split, wer, bleu, tuned_penalty):
        fixed = _summary(wer, bleu)
        _write(tmp_path, pair, seed, name, False, split, fixed)
        tuned = _summary(wer - 1.0, bleu)
        tuned["asr"]["blank_penalty_tuning"] = {"blank_penalty": tuned_penalty}
        decode = run_dir(tmp_path, pair, seed, name, False) / "decode"
        (decode / f"summary-{split}-{TAG}-asrbp{tuned_penalty:g}-tuned.json").write_text(json.dumps(tuned))

    for seed, penalty in ((1, 1.5), (2, 0.5)):
        both("ar-en", seed, "hier1", "dev", 9.0, {1.0: 10.0}, penalty)
        both("ar-en", seed, "hier1", "test", 4.0 + seed, {1.0: 30.0}, penalty)
        both("ar-en", seed, "asr_pretrain", "test", 3.0, None, 2.0)
    fixed, _ = format_study(tmp_path, ["ar-en"], [1, 2], ["hier1"], [False])
    tuned, missing = format_study(tmp_path, ["ar-en"], [1, 2], ["hier1"], [False], asr_tuned=True)
    (fixed_header, fixed_row), (tuned_header, tuned_row) = _table(fixed, "ar-en"), _table(tuned, "ar-en")
    assert fixed_header[-1] == "ST blank penalty (dev)" and tuned_header[-1] == "ASR blank penalty (dev)"
    assert fixed_row[3] == f"5.50 ± {statistics.stdev([5.0, 6.0]):.2f}"  # test WER at penalty 0
    assert tuned_row[3] == f"4.50 ± {statistics.stdev([4.0, 5.0]):.2f}"  # at the tuned penalties
    assert tuned_row[4] == fixed_row[4]  # both stage-4 and stage-3 tuned: the degradation is the same here
    assert tuned_row[-1] == "1.5 0.5" and missing == []
    assert "chose its ASR blank penalty on dev" in tuned and "fixed blank penalty" in fixed


def test_the_study_ends_with_the_machines_its_trainings_ran_on(tmp_path):
    for seed in (1, 2):
        _write(tmp_path, "es-en", seed, "hier1", False, "dev", _summary(9.0, {0.5: 10.0}))
        _write(tmp_path, "es-en", seed, "hier1", False, "test", _summary(2.0, {0.5: 40.0}))
        _write(tmp_path, "es-en", seed, "asr_pretrain", False, "test", _summary(2.5, None))
    epyc = {"cpu": {"model": "AMD EPYC", "capability": "AVX512"}, "torch_num_threads": 1}
    xeon = {"cpu": {"model": "Intel Xeon", "capability": "AVX2"}, "torch_num_threads": 2}
    # seed 1: stage 3 on one machine; stage 4 started on the Xeon, resumed on the EPYC. Seed 2: stage 4 from before
    # env.json recorded the CPU; its stage 3 has no env.json.
    (run_dir(tmp_path, "es-en", 1, "asr_pretrain", False) / "env.json").write_text(json.dumps(epyc))
    (run_dir(tmp_path, "es-en", 1, "hier1", False) / "env.json").write_text(json.dumps({**epyc, "earlier_runs": [xeon]}))
    (run_dir(tmp_path, "es-en", 2, "hier1", False) / "env.json").write_text(json.dumps({"torch_num_threads": 4}))
    text, _ = format_study(tmp_path, ["es-en"], [1, 2], ["hier1"], [False])
    line = text.strip().splitlines()[-1]
    assert line.startswith("Trained on")
    assert ("AMD EPYC (AVX512), 1 thread: 2; CPU not recorded, 4 threads: 1; Intel Xeon (AVX2), 2 threads: 1; "
            "no readable env.json: 1.") in line
    assert "not one kind of CPU" in line
    (run_dir(tmp_path, "es-en", 1, "hier1", False) / "env.json").write_text(json.dumps(epyc))
    line = format_study(tmp_path, ["es-en"], [1, 2], ["hier1"], [False])[0].strip().splitlines()[-1]
    assert "AMD EPYC (AVX512), 1 thread: 2;" in line and "not one kind" not in line


# (source, reference, crossing links, nt_shared's translation, hier1's translation at penalty 1, at penalty 0)
BOOTSTRAP_SEGMENTS = [
    ("esta flor es barata", "this flower is cheap", 0, "this table is cheap", "this flower is cheap", "this"),
    ("esa bicicleta es buena", "that bicycle is good", 0, "that bicycle is good", "that car is good", "that"),
    ("la casa roja de mi hermano", "my brother's red house", 4, "the red house my brother",
     "my brother's red house", "house"),
    ("el perro negro come pan", "the black dog eats bread", 1, "the dog black eats bread",
     "the black dog eats bread", "dog"),
    ("lo leyó ayer en casa", "he read it at home yesterday", 12, "he read yesterday at home",
     "he read it at home yesterday", "he"),
]


def test_the_bootstrap_table_compares_each_run_with_the_baseline_of_its_seed(tmp_path):
    from lhotse import CutSet

    from hent_srt.data.corpora.synth import NUM_CROSSINGS
    from hent_srt.significance import paired_bootstrap_by_subset
    from hent_srt.study import test_cuts_path

    cuts = []
    for i, (text, translation, links, *_) in enumerate(BOOTSTRAP_SEGMENTS):
        sup = make_supervision(f"u{i}", f"u{i}", 0.0, 1.0, 0, text, "es", translation)
        sup.custom[NUM_CROSSINGS] = links
        cuts.append(MonoCut(id=f"u{i}", start=0.0, duration=1.0, channel=0, supervisions=[sup]))
    data_root = tmp_path / "data"
    for split in ("test", "test2"):
        manifest = test_cuts_path(data_root, "es-en", split)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        CutSet.from_cuts(cuts).to_file(manifest)
    setting = DecodeSetting(method="greedy", weights="averaged", beam=None, max_sym_per_frame=20, streaming=False,
                            chunking=(), blank_penalty_asr=0.0)
    exp = tmp_path / "exp"
    summaries = {}
    for seed in (1, 2):
        for name, st in (("nt_shared", {0.0: 3, 1.0: 3}), ("hier1", {0.0: 5, 1.0: 4})):
            # hier1's penalty 0 is a poor translation on dev and on test: dev chooses penalty 1
            texts = {p: {f"u{i}": seg[column] for i, seg in enumerate(BOOTSTRAP_SEGMENTS)} for p, column in st.items()}
            hyps = Hypotheses(asr={f"u{i}": seg[0] for i, seg in enumerate(BOOTSTRAP_SEGMENTS)}, st=texts,
                              audio_seconds=5.0)
            decode = run_dir(exp, "es-en", seed, name, False) / "decode"
            for split in ("dev", "test", "test2"):
                summaries[seed, name, split] = score_and_write(hyps, cuts, split, decode, setting=setting)
        for split in ("test", "test2"):
            score_and_write(Hypotheses(asr={c.id: "x" for c in cuts}, st={}, audio_seconds=5.0), cuts, split,
                            run_dir(exp, "es-en", seed, "asr_pretrain", False) / "decode", setting=setting)
    text, missing = format_study(exp, ["es-en"], [1, 2], ["nt_shared", "hier1"], [False], data_root=data_root)
    assert missing == []
    section = text.split("Against nt_shared on es-en")[1].split("\n\n")[1]
    header, *rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
                     if line.startswith("| ")]
    assert header == ["model", "CR-CTC", "seed", "BLEU − baseline, all", "monotone (2)", "reordered (3)"]
    expected = paired_bootstrap_by_subset([s[3] for s in BOOTSTRAP_SEGMENTS], [s[4] for s in BOOTSTRAP_SEGMENTS],
                                          [[s[1] for s in BOOTSTRAP_SEGMENTS]], [s[2] for s in BOOTSTRAP_SEGMENTS])
    test_bleu = {name: next(r["bleu"] for r in summaries[1, name, "test"]["st"] if r["blank_penalty"] == 1.0)
                 for name in ("nt_shared", "hier1")}
    assert f"{test_bleu['hier1'] - test_bleu['nt_shared']:+.2f} [" in rows[0][3]
    for row, seed in zip(rows, (1, 2)):
        assert row[:3] == ["hier1", "no", str(seed)]
        for cell, subset in zip(row[3:], ("all", "monotone", "reordered")):
            r = expected[subset]
            assert cell == f"{r.delta:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}], p {r.p_value:.3f}"
    # a second test split (here the same sentences and translations) gets the same comparison from its own files
    both = format_study(exp, ["es-en"], [1, 2], ["nt_shared", "hier1"], [False], data_root=data_root,
                        test_splits=("test", "test2"))[0]
    assert both.split("Against nt_shared on es-en, run by run (test2 BLEU")[1].split("\n\n")[1] == section
    (run_dir(exp, "es-en", 2, "hier1", False) / "decode" / f"hyps-st-test-{TAG}-bp1.txt").unlink()
    with pytest.raises(ValueError, match="hyps-st-test-greedy-sym20-averaged-bp1.txt: missing beside its decode"):
        format_study(exp, ["es-en"], [1, 2], ["nt_shared", "hier1"], [False], data_root=data_root)
    assert "Against" not in format_study(exp, ["es-en"], [1, 2], ["nt_shared", "hier1"], [False])[0]
