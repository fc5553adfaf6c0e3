"""Recipe options and stage inputs: scripts/parse_options.sh and the checks of scripts/recipe_stages.sh.

Each test runs a copy of a recipe in a temporary directory with a stand-in ``hent-srt`` (and ``torchrun``) on
PATH that only records its arguments, so no stage does real work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from recipe_standins import run, touch

MINI = "egs/mini"
MINI_DATA = f"{MINI}/data/es-en"
MINI_EXP = f"{MINI}/exp/es-en"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--stage", "abc"), "option --stage takes an integer, got 'abc'"),
        (("--stop-stage=1.5",), "option --stop-stage takes an integer, got '1.5'"),
        (("--num-train", ""), "option --num-train takes an integer, got ''"),
        (("--streaming", "maybe"), "option --streaming takes true or false (or yes/no, 1/0), got 'maybe'"),
        (("--compare-shared", "Y"), "option --compare-shared takes true or false"),
        (("--stage", "-1"), "--stage must be at least 0, got -1"),
        (("--stage", "4", "--stop-stage", "2"), "--stop-stage 2 is before --stage 4"),
        (("--stage", "1", "--num-jobs", "0"), "--num-jobs must be at least 1, got 0"),
        (("--stage", "1", "--src-vocab-size", "0"), "--src-vocab-size must be at least 1"),
        (("--stage", "5", "--decode-threads", "-2"), "--decode-threads must be at least 0, got -2"),
        (("5",), "unexpected argument '5'"),
        (("--stag", "5"), "unknown option --stag"),
        (("--stage",), "option --stage needs a value"),
    ],
)
def test_bad_options_are_refused_before_any_stage(recipes, args, message):
    # kinds and the stage range are checked when the options are parsed; the ranges of the settings of stages 1-6
    # before stage 1 (the --num-jobs and --src-vocab-size cases start there, as stage 0 checks its own)
    code, err, calls = run(recipes, "mini", *args)
    assert code == 2 and message in err and calls == []


def test_recipe_defaults_are_checked_too(recipes):
    code, err, calls = run(recipes, "iwslt22_ta", "--stage", "5", "--ngpu", "two")
    assert code == 2 and "option --ngpu takes an integer, got 'two'" in err and calls == []
    code, err, calls = run(recipes, "iwslt22_ta", "--stage", "5", "--speed-perturb", "nope")
    assert code == 2 and "--speed-perturb" in err and calls == []


def test_help_lists_each_option_with_its_kind_and_default(recipes):
    done = subprocess.run(["bash", str(recipes / MINI / "run.sh"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--stage N (default 0)" in done.stdout
    assert "--streaming true|false (default false)" in done.stdout
    assert "--pair VALUE (default 'es-en')" in done.stdout


@pytest.mark.parametrize(
    "word, streaming",
    [("yes", True), ("true", True), ("1", True), ("YES", True), ("no", False), ("false", False), ("0", False)],
)
def test_streaming_option_picks_the_models_stage5_decodes(recipes, word, streaming):
    model = "hent_srt_streaming" if streaming else "hent_srt"
    touch(recipes, f"{MINI_EXP}/{model}/epoch-1.pt", f"{MINI_EXP}/{model}/epoch-2.pt",
          f"{MINI_DATA}/fbank/cuts_test.jsonl.gz")
    code, err, calls = run(recipes, "mini", "--streaming", word, "--stage", "05", "--stop-stage", "5")
    assert code == 0, err
    decode = [c for c in calls if c.startswith("hent-srt decode")]
    assert len(decode) == 1 and f"/{model}/averaged.pt" in decode[0]
    assert (" --streaming" in decode[0]) == streaming and ("--method greedy" in decode[0]) != streaming


@pytest.mark.parametrize("streaming", [True, False])
def test_stage6_exports_the_stage4_models_and_checks_them_on_the_first_test_utterances(recipes, streaming):
    """The end-to-end run (tests/test_e2e_mini.py) exports the offline models for real; the causal twins' export
    (tested in tests/test_export.py) is checked here for its arguments."""
    model = "hent_srt_streaming" if streaming else "hent_srt"
    touch(recipes, f"{MINI_EXP}/{model}/averaged.pt", f"{MINI_DATA}/fbank/cuts_test.jsonl.gz")
    code, err, calls = run(recipes, "mini", "--streaming", str(streaming).lower(), "--stage", "6", "--stop-stage", "6",
                           "--verify-num", "3")
    assert code == 0, err
    (export,) = calls
    assert export.startswith(f"hent-srt export --exp-dir ./exp/es-en/{model} --checkpoint ./exp/es-en/{model}/averaged.pt")
    assert "--torchscript --onnx --sherpa-onnx" in export and (" --streaming" in export) == streaming
    assert export.endswith("--verify-cuts ./data/es-en/fbank/cuts_test.jsonl.gz --verify-num 3")


@pytest.mark.parametrize(
    "stage, present, message",
    [
        ("1", [], "stage 1 needs ./data/es-en/manifests/es-en_cuts_train.jsonl.gz (or the recordings and "
                  "supervisions manifests of split train), which stage 0 makes"),
        ("2", [], "stage 2 needs ./data/es-en/fbank/cuts_train.jsonl.gz, which stage 1 makes"),
        ("3", ["fbank/cuts_train.jsonl.gz", "fbank/cuts_dev.jsonl.gz"],
         "stage 3 needs ./data/es-en/bpe_src/bpe.model, which stage 2 makes"),
        ("4", [], "stage 4 needs ./data/es-en/fbank/cuts_train.jsonl.gz, which stage 1 makes"),
        ("4", ["fbank/cuts_train.jsonl.gz", "fbank/cuts_dev.jsonl.gz", "bpe_src/bpe.model", "bpe_src/tokens.txt",
               "bpe_tgt/bpe.model", "bpe_tgt/tokens.txt"],
         "stage 4 needs a stage-3 checkpoint (epoch-N.pt) in ./exp/es-en/asr_pretrain: run stage 3 first"),
        ("5", [], "stage 5 needs a stage-4 checkpoint (epoch-N.pt) in ./exp/es-en/hent_srt: run stage 4 first"),
        ("6", [], "stage 6 needs ./exp/es-en/hent_srt/averaged.pt, which stage 5 makes"),
    ],
)
def test_a_stage_without_its_inputs_names_the_stage_that_makes_them(recipes, stage, present, message):
    touch(recipes, *(f"{MINI_DATA}/{p}" for p in present))
    code, err, calls = run(recipes, "mini", "--stage", stage, "--stop-stage", stage)
    assert code == 2 and message in err, err
    assert calls == []


def test_stage5_with_an_epoch_that_was_not_trained_names_the_last_one(recipes):
    touch(recipes, f"{recipes}/egs/iwslt22_ta/exp/hent_srt/epoch-3.pt")
    code, err, calls = run(recipes, "iwslt22_ta", "--stage", "5", "--stop-stage", "5", "--epoch", "20")
    assert code == 2 and "no exp/hent_srt/epoch-20.pt (the last epoch there is 3); pass --epoch 3" in err
    assert calls == []


def test_stage5_decodes_the_test_splits_with_each_adaptive_estimator_tuned_on_dev(recipes):
    touch(recipes, f"{MINI_EXP}/hent_srt/epoch-1.pt", f"{MINI_EXP}/hent_srt/epoch-2.pt",
          f"{MINI_DATA}/fbank/cuts_test.jsonl.gz", f"{MINI_DATA}/fbank/cuts_dev.jsonl.gz")
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--test-splits", "dev test",
                           "--adaptive-estimators", "asr_length st_ctc")
    assert code == 0, err
    decode = [c for c in calls if c.startswith("hent-srt decode")]
    assert len(decode) == 4  # the sweep on dev and test, then test once per estimator (dev tunes, is not decoded)
    for call, estimator in zip(decode[2:], ("asr_length", "st_ctc")):
        assert "/cuts_test.jsonl.gz" in call and "--blank-penalty adaptive" in call
        assert f"--adaptive-estimator {estimator}" in call and "--tune-adaptive-on" in call
        assert call.split("--tune-adaptive-on ")[1].split()[0].endswith("/fbank/cuts_dev.jsonl.gz")
        assert f"--out-dir ./exp/es-en/hent_srt/decode/adaptive-{estimator} " in call
        assert f"--adaptive-params ./exp/es-en/hent_srt/adaptive-{estimator}.json " in call
        assert f"adaptive {estimator})" in call  # its own RESULTS.md section
    code, err, calls = run(recipes, "mini", "--stage", "5", "--adaptive-estimators", "oracle")
    assert code == 2 and "--adaptive-estimators takes asr_length and/or st_ctc, got 'oracle'" in err and calls == []
    code, err, calls = run(recipes, "mini", "--stage", "5", "--streaming", "true", "--adaptive-estimators", "st_ctc")
    assert code == 2 and "st_ctc decodes offline" in err and calls == []


def test_a_second_test_set_is_made_beside_the_corpus_and_decoded_with_the_test_splits(recipes):
    touch(recipes, *(f"{MINI_DATA}/manifests/es-en_cuts_{s}.jsonl.gz" for s in ("train", "dev", "test")))
    code, err, calls = run(recipes, "mini", "--stage", "0", "--stop-stage", "0", "--musan", "false",
                           "--num-test2", "7")
    assert code == 0, err
    assert len(calls) == 1 and calls[0].startswith("hent-srt synth") and "--num-test2 7 --only-test2" in calls[0]
    assert "--num-train 3000 --num-dev 100 --num-test 200" in calls[0]  # the corpus it is drawn beside
    touch(recipes, f"{MINI_DATA}/manifests/es-en_cuts_test2.jsonl.gz", f"{MINI_EXP}/hent_srt/epoch-1.pt",
          *(f"{MINI_DATA}/fbank/cuts_{s}.jsonl.gz" for s in ("dev", "test", "test2")))
    code, err, calls = run(recipes, "mini", "--stage", "0", "--stop-stage", "1", "--musan", "false",
                           "--num-test2", "7")
    assert code == 0, err
    assert [c.split("--split ")[1].split()[0] for c in calls] == ["train", "dev", "test", "test2"]  # made once
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--num-test2", "7",
                           "--test-splits", "dev test")
    assert code == 0, err
    decoded = [c.split("--cuts ")[1].split()[0].rsplit("/", 1)[1] for c in calls if c.startswith("hent-srt decode")]
    assert decoded == ["cuts_dev.jsonl.gz", "cuts_test.jsonl.gz", "cuts_test2.jsonl.gz"]


def test_stage5_passes_the_asr_blank_penalty_to_every_decode(recipes):
    touch(recipes, *(f"{recipes}/{MINI_EXP}/hent_srt/epoch-{e}.pt" for e in (1, 2)),
          *(f"{recipes}/{MINI_DATA}/fbank/cuts_{s}.jsonl.gz" for s in ("dev", "test")))
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--blank-penalty-asr", "1.5",
                           "--adaptive-estimators", "asr_length")
    assert code == 0, err
    decodes = [c for c in calls if c.startswith("hent-srt decode")]
    assert len(decodes) == 2 and all("--blank-penalty-asr 1.5 " in c for c in decodes)
    assert "--adaptive-params ./exp/es-en/hent_srt/adaptive-asr_length-asrbp1.5.json " in decodes[1]
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5")
    assert code == 0 and calls and not any("--blank-penalty-asr" in c for c in calls)  # the conf's value
    decodes = [c for c in calls if c.startswith("hent-srt decode")]
    assert decodes and all("--num-threads 0 " in c for c in decodes)  # torch's default
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--decode-threads", "2")
    decodes = [c for c in calls if c.startswith("hent-srt decode")]
    assert code == 0 and decodes and all("--num-threads 2 " in c for c in decodes)
    code, err, calls = run(recipes, "mini", "--stage", "5", "--blank-penalty-asr", "high")
    assert code == 2 and "--blank-penalty-asr takes a number, e.g. 1.0, or 'tune'" in err and "'high'" in err
    assert calls == []


def test_stage5_tunes_the_asr_blank_penalty_on_dev_for_every_decode(recipes):
    touch(recipes, *(f"{recipes}/{MINI_EXP}/hent_srt/epoch-{e}.pt" for e in (1, 2)),
          *(f"{recipes}/{MINI_DATA}/fbank/cuts_{s}.jsonl.gz" for s in ("dev", "test")))
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--blank-penalty-asr", "tune",
                           "--blank-penalty-asr-grid", "0,1,2", "--test-splits", "dev test",
                           "--adaptive-estimators", "asr_length")
    assert code == 0, err
    decodes = [c for c in calls if c.startswith("hent-srt decode")]
    assert len(decodes) == 3  # dev and test with the sweep, test with the adaptive ST penalty
    for call in decodes:
        assert call.split("--tune-blank-penalty-asr-on ")[1].split()[0] == "./data/es-en/fbank/cuts_dev.jsonl.gz"
        assert "--blank-penalty-asr-grid 0,1,2 " in call and "--blank-penalty-asr " not in call
    # the adaptive parameters tuned with these ASR hypotheses do not replace those of the fixed-penalty decodes
    assert "--adaptive-params ./exp/es-en/hent_srt/adaptive-asr_length-asrbp-tuned.json " in decodes[2]
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--blank-penalty-asr", "tune")
    assert code == 0, err
    decodes = [c for c in calls if c.startswith("hent-srt decode")]
    assert decodes and all("--tune-blank-penalty-asr-on" in c for c in decodes)
    assert all("--blank-penalty-asr-grid" not in c for c in decodes)  # decode's default grid


@pytest.mark.parametrize(
    "args, message",
    [
        (("--blank-penalty-asr-grid", "0,1"), "--blank-penalty-asr-grid is the grid of --blank-penalty-asr tune"),
        (("--blank-penalty-asr", "tune", "--blank-penalty-asr-grid", "0,,1"),
         "--blank-penalty-asr-grid takes a comma list of numbers, e.g. 0,0.5,1, got '0,,1'"),
    ],
)
def test_bad_asr_penalty_tuning_options_are_refused_before_any_stage(recipes, args, message):
    code, err, calls = run(recipes, "mini", "--stage", "5", *args)
    assert code == 2 and message in err and calls == []


def test_tuning_the_asr_penalty_needs_the_dev_features(recipes):
    touch(recipes, *(f"{recipes}/{MINI_EXP}/hent_srt/epoch-{e}.pt" for e in (1, 2)),
          f"{recipes}/{MINI_DATA}/fbank/cuts_test.jsonl.gz")
    code, err, calls = run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--blank-penalty-asr", "tune")
    assert code == 2 and "stage 5 needs ./data/es-en/fbank/cuts_dev.jsonl.gz, which stage 1 makes" in err
    assert not any(c.startswith("hent-srt decode") for c in calls)


def test_the_ldc_recipes_take_the_adaptive_estimators_too(recipes):
    # iwslt22_ta decodes dev and test1; the adaptive penalty is tuned on dev, so only test1 gets the adaptive decode
    touch(recipes, *(f"{recipes}/egs/iwslt22_ta/{p}" for p in ("exp/hent_srt/epoch-1.pt", "exp/hent_srt/epoch-2.pt",
                                                               "data/fbank/cuts_dev.jsonl.gz",
                                                               "data/fbank/cuts_test1.jsonl.gz")))
    code, err, calls = run(recipes, "iwslt22_ta", "--stage", "5", "--stop-stage", "5", "--epoch", "2", "--avg", "1",
                           "--adaptive-estimators", "st_ctc")
    assert code == 0, err
    adaptive = [c for c in calls if c.startswith("hent-srt decode") and "--blank-penalty adaptive" in c]
    assert len(adaptive) == 1
    assert "--cuts data/fbank/cuts_test1.jsonl.gz" in adaptive[0] and "--adaptive-estimator st_ctc" in adaptive[0]
    assert "--tune-adaptive-on data/fbank/cuts_dev.jsonl.gz" in adaptive[0]
    assert "--out-dir exp/hent_srt/decode/adaptive-st_ctc " in adaptive[0]
    assert all("--num-threads 0 " in c for c in calls if c.startswith("hent-srt decode"))  # recipe_defaults.sh
    # decoding only dev, the split the penalty is tuned on (as egs/hkust does), is refused before any stage
    code, err, calls = run(recipes, "iwslt22_ta", "--stage", "5", "--stop-stage", "5", "--epoch", "2", "--avg", "1",
                           "--test-splits", "dev", "--adaptive-estimators", "asr_length")
    assert code == 2 and calls == []
    assert "--test-splits 'dev' has none: add a held-out split or leave --adaptive-estimators empty" in err
    code, err, calls = run(recipes, "iwslt22_ta", "--stage", "5", "--stop-stage", "5", "--epoch", "2", "--avg", "1",
                           "--test-splits", "dev", "--adaptive-estimators", " ")
    assert code == 0, err


@pytest.mark.parametrize("value, message", [("two", "option --num-threads takes an integer, got 'two'"),
                                            ("-1", "--num-threads must be at least 0 (0: torch's default), got -1")])
def test_study_refuses_a_bad_thread_count_before_any_stage(recipes, value, message):
    calls = recipes / "calls.txt"
    env = dict(os.environ, PATH=f"{recipes / 'bin'}:{os.environ['PATH']}", HENT_SRT_CALLS=str(calls))
    done = subprocess.run(["bash", str(recipes / MINI / "study.sh"), "--num-threads", value],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and message in done.stderr and not calls.exists()


def test_study_trains_the_asr_only_reference_from_each_stage3_model_and_tables_it(recipes):
    # a stand-in hent-srt written in Python, so that study.sh finds this interpreter for its table (hent_srt.study)
    stub = recipes / "bin" / "hent-srt"
    stub.write_text(f"#!{sys.executable}\nimport os, sys\n"
                    "with open(os.environ['HENT_SRT_CALLS'], 'a') as f:\n"
                    "    f.write('hent-srt ' + ' '.join(sys.argv[1:]) + '\\n')\n")
    work = f"{MINI}/exp/study"
    data = f"{work}/data/es-en"
    exp = f"{work}/exp/es-en/seed1"
    touch(recipes, *(f"{data}/manifests/es-en_cuts_{s}.jsonl.gz" for s in ("train", "dev", "test")),
          *(f"{data}/fbank/cuts_{s}.jsonl.gz" for s in ("train", "dev", "test", "musan")),
          *(f"{data}/bpe_{side}/{f}" for side in ("src", "tgt") for f in ("bpe.model", "tokens.txt")),
          f"{data}/noise/x", f"{exp}/asr_pretrain/epoch-2.pt", f"{exp}/asr_pretrain/best-valid-loss.pt",
          f"{exp}/hier1/epoch-3.pt", f"{exp}/asr_only/epoch-3.pt")
    calls = recipes / "calls.txt"
    env = dict(os.environ, PATH=f"{recipes / 'bin'}:{os.environ['PATH']}", HENT_SRT_CALLS=str(calls))

    def study(*extra: str) -> tuple[str, list[str]]:
        """(stdout, the recorded train / average / decode calls) of one study.sh call."""
        calls.unlink(missing_ok=True)
        done = subprocess.run(["bash", str(recipes / MINI / "study.sh"), "--pairs", "es-en", "--seeds", "1", "--cr",
                               "false", "--models", "hier1", "--adaptive", "", "--out", str(recipes / "STUDY.md"),
                               *extra],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout, [c for c in calls.read_text().splitlines()
                             if c.startswith(("hent-srt train", "hent-srt decode", "hent-srt average"))]

    out, recorded = study()
    trains = [c for c in recorded if c.startswith("hent-srt train")]
    assert [c.split("--config ")[1].split()[0] for c in trains] == [
        "conf/asr_pretrain.yaml", "conf/hier1.yaml", "conf/asr_only.yaml"]
    assert "--init-from exp/study/exp/es-en/seed1/asr_pretrain/best-valid-loss.pt" in trains[2]
    assert "--set train.seed=1" in trains[2] and "--exp-dir exp/study/exp/es-en/seed1/asr_only" in trains[2]
    assert all("--set train.num_threads=1" in c for c in trains), trains  # runs repeat only at one thread count
    decodes = [c for c in recorded if c.startswith("hent-srt decode")]
    assert sum("/asr_only/averaged.pt" in c for c in decodes) == 2  # dev and test
    assert all("--num-threads 1 " in c for c in decodes), decodes  # the decodes are pinned to the same count
    # the stand-ins decode nothing, so the table (written by the real hent_srt.study) lists the run as missing
    assert "es-en hier1 without CR-CTC, seed 1." in (recipes / "STUDY.md").read_text() and "wrote" in out

    def write_summary(model: str, tuned: bool) -> None:
        """A test summary of ``model`` as stage 5 leaves it, its ASR blank penalty tuned on dev or fixed."""
        asr = {"metric": "WER", "error_rate": 5.0, **({"blank_penalty_tuning": {"blank_penalty": 1.5}} if tuned else {})}
        path = recipes / exp / model / "decode" / f"summary-test-{'tuned' if tuned else 'fixed'}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"set": "test", "asr": asr}))

    # a second call runs only the models without decode summaries: here the reference, then nothing at all
    write_summary("asr_pretrain", False)
    write_summary("hier1", False)
    _, rerun = study()
    assert rerun and all("/seed1/asr_only" in c for c in rerun), rerun
    assert sum(c.startswith("hent-srt train") for c in rerun) == 1
    write_summary("asr_only", False)
    out, rerun = study()
    assert rerun == [] and "es-en seed 1 CR-CTC false: decoded already, skipped" in out

    # --blank-penalty-asr tune: the decodes at a fixed ASR penalty do not count, so all three models are decoded
    # again, each decode choosing the ASR penalty on dev; once each has a tuned summary, nothing runs
    out, rerun = study("--blank-penalty-asr", "tune", "--blank-penalty-asr-grid", "0,1,2")
    decodes = [c for c in rerun if c.startswith("hent-srt decode")]
    assert {c.split("--exp-dir ")[1].split()[0].rsplit("/", 1)[1] for c in decodes} == {"asr_pretrain", "hier1",
                                                                                      "asr_only"}
    tuning = "--tune-blank-penalty-asr-on exp/study/data/es-en/fbank/cuts_dev.jsonl.gz --blank-penalty-asr-grid 0,1,2 "
    assert all(tuning in c for c in decodes), decodes
    for model in ("asr_pretrain", "hier1", "asr_only"):
        write_summary(model, True)
    out, rerun = study("--blank-penalty-asr", "tune")
    assert rerun == [] and "decoded already, skipped" in out
    assert "chose its ASR blank penalty on dev" in (recipes / "STUDY.md").read_text()  # the table reads the tuned
