"""Hostile options and missing inputs for the recipes (``egs/<corpus>/run.sh`` with the shared
``scripts/parse_options.sh`` and ``scripts/recipe_stages.sh``), run with a stand-in ``hent-srt`` that records its
calls: every refusal exits 2 with a message naming the option or the stage that makes the missing input, and
calls nothing."""

from __future__ import annotations

import pytest
from hostile_kit import fail
from recipe_standins import run, touch


def refused(result, *names, late: str = "silent") -> None:
    """Exit 2 naming ``names`` and no call; a call made is ``late`` (silent, or a message: the command it called
    refuses the input later)."""
    code, err, calls = result
    if "Traceback" in err:
        fail("traceback", err)
    if code == 0:
        fail(late if calls else "silent", f"exit 0 for bad options; calls {calls}")
    if code != 2 or any(n not in err for n in names):
        fail("message", f"exit {code}, expected 2 naming {names}:\n{err}")
    if calls:
        fail(late, f"a refused run called {calls}")


MINI_DATA, MINI_EXP = "egs/mini/data/es-en", "egs/mini/exp/es-en"
TRAINING_INPUTS = ["fbank/cuts_train.jsonl.gz", "fbank/cuts_dev.jsonl.gz", "bpe_src/bpe.model", "bpe_src/tokens.txt",
                   "bpe_tgt/bpe.model", "bpe_tgt/tokens.txt"]


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("args", "names"), [
    (["--stage", "abc"], ["--stage", "'abc'"]),
    (["--stop-stage", "4x"], ["--stop-stage"]),
    (["--streaming", "maybe"], ["--streaming", "maybe"]),
    (["--musan", "perhaps"], ["--musan", "perhaps"]),
    (["--stage", "6", "--stop-stage", "5"], ["--stop-stage 5", "--stage 6"]),
    (["--num-jobs", "0", "--stage", "1"], ["--num-jobs"]),
    (["--streaming", "true", "--compare-shared", "true"], ["--compare-shared"]),
    (["--pair"], ["--pair", "needs a value"]),
    (["--no-such-option", "1"], ["--no-such-option"]),
])
def test_bad_option_is_refused_before_any_stage(recipes, args, names):
    refused(run(recipes, "mini", *args), *names)


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("args", "names"), [
    (["--ngpu", "two"], ["--ngpu"]),
    (["--epoch", "-1", "--stage", "5"], ["--epoch"]),
    (["--beam", "0", "--stage", "5"], ["--beam"]),
    (["--speed-perturb", "maybe"], ["--speed-perturb"]),
    (["--init-checkpoint", "newest", "--stage", "4", "--stop-stage", "4"], ["--init-checkpoint"]),
])
def test_bad_recipe_default_is_refused(recipes, args, names):
    if "--init-checkpoint" in args:
        touch(recipes, *(f"egs/iwslt22_ta/data/{p}" for p in TRAINING_INPUTS), "egs/iwslt22_ta/exp/asr_pretrain/epoch-1.pt")
        args = [*args, "--musan-dir", "none"]
    refused(run(recipes, "iwslt22_ta", *args), *names)


@pytest.mark.hostile("message")
@pytest.mark.parametrize(("stage", "present", "names"), [
    ("2", [], ["stage 2", "stage 1"]),
    ("3", ["fbank/cuts_train.jsonl.gz"], ["stage 3", "cuts_dev.jsonl.gz", "stage 1"]),
    ("4", TRAINING_INPUTS, ["stage 4", "stage 3"]),
    ("5", [], ["stage 5", "stage 4"]),
    ("6", [], ["stage 6", "stage 5"]),
])
def test_missing_stage_inputs_name_the_stage_that_makes_them(recipes, stage, present, names):
    touch(recipes, *(f"{MINI_DATA}/{p}" for p in present))
    refused(run(recipes, "mini", "--stage", stage, "--stop-stage", stage), *names)


@pytest.mark.hostile("silent")
def test_streaming_yes_runs_the_streaming_models(recipes):
    touch(recipes, f"{MINI_EXP}/hent_srt_streaming/epoch-1.pt", f"{MINI_EXP}/hent_srt_streaming/epoch-2.pt",
          f"{MINI_DATA}/fbank/cuts_test.jsonl.gz")
    code, err, calls = run(recipes, "mini", "--streaming", "yes", "--stage", "5", "--stop-stage", "5")
    decode = [c for c in calls if c.startswith("hent-srt decode")]
    if code != 0 or len(decode) != 1 or "hent_srt_streaming" not in decode[0] or "--streaming" not in decode[0]:
        fail("silent", f"--streaming yes did not decode the streaming model chunk by chunk: {code} {calls}\n{err}")


@pytest.mark.hostile("silent")
def test_no_test_split_to_decode(recipes):
    touch(recipes, f"{MINI_EXP}/hent_srt/epoch-1.pt", f"{MINI_EXP}/hent_srt/epoch-2.pt")
    refused(run(recipes, "mini", "--stage", "5", "--stop-stage", "5", "--test-splits", " "), "--test-splits")


@pytest.mark.hostile("message")
def test_conf_that_does_not_exist_is_named_before_training(recipes):
    touch(recipes, *(f"{MINI_DATA}/{p}" for p in TRAINING_INPUTS))
    refused(run(recipes, "mini", "--stage", "3", "--stop-stage", "3", "--musan", "false", "--pretrain-model",
                "asr_pretrian"), "asr_pretrian", late="message")
