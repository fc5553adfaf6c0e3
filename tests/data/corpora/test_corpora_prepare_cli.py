"""`hent-srt prepare <corpus>` for every corpus, through the CLI, on generated fixtures."""

from __future__ import annotations

import argparse

import pytest
from lhotse import CutSet, SupervisionSet

from hent_srt.cli import build_parser
from hent_srt.cli import main as cli_main
from hent_srt.data.corpora.manifests import manifest_paths
from hent_srt.data.corpora.prepare import CORPORA


def _run(*argv) -> int:
    return cli_main(["prepare", *map(str, argv)])


@pytest.fixture(scope="module")
def ldc_manifests(iwslt22_dirs, fisher_dirs, hkust_dirs, tmp_path_factory):
    """Run `hent-srt prepare` for the three LDC corpora; return {corpus: manifest dir}."""
    root = tmp_path_factory.mktemp("prepared")
    corpus, splits = iwslt22_dirs
    assert _run("iwslt22_ta", "--corpus-dir", corpus, "--split-dir", splits, "--out-dir", root / "ta") == 0
    fisher = [f"--{key.replace('_', '-')}" for key in fisher_dirs]
    fisher_args = [arg for pair in zip(fisher, fisher_dirs.values()) for arg in pair]
    assert _run("fisher_callhome", *fisher_args, "--output-dir", root / "fc", "--flac-dir", "") == 0
    hkust = [arg for key, path in hkust_dirs.items() for arg in (f"--{key.replace('_', '-')}", path)]
    assert _run("hkust", *hkust, "--out-dir", root / "hk", "--splits", "dev") == 0
    return {"iwslt22_ta": root / "ta", "fisher_callhome": root / "fc", "hkust": root / "hk"}


def test_ldc_corpora_write_their_manifests(ldc_manifests):
    for corpus, splits in (
        ("iwslt22_ta", ("train", "dev", "test1")),
        ("fisher_callhome", ("fisher_train", "fisher_dev", "fisher_dev2", "fisher_test", "callhome_evltest")),
        ("hkust", ("dev",)),
    ):
        for split in splits:
            recordings, supervisions = manifest_paths(ldc_manifests[corpus], corpus, split)
            assert recordings.is_file() and len(SupervisionSet.from_file(supervisions)) > 0, (corpus, split)
    assert not manifest_paths(ldc_manifests["hkust"], "hkust", "train")[0].exists()


def test_multi_conv_merges_what_was_prepared(ldc_manifests, tmp_path):
    argv = ["--iwslt22-ta-dir", ldc_manifests["iwslt22_ta"], "--fisher-callhome-dir", ldc_manifests["fisher_callhome"]]
    assert _run("multi_conv", *argv, "--out-dir", tmp_path) == 0
    languages = {s.language for s in SupervisionSet.from_file(manifest_paths(tmp_path, "multi_conv", "train")[1])}
    assert languages == {"aeb", "es"}
    assert _run("multi_conv", "--out-dir", tmp_path / "none") == 2


def test_synth_then_synth_noise_then_musan(tmp_path):
    """The egs/mini chain: a handful of synthetic utterances, babble made of them, the MUSAN manifests."""
    corpus = tmp_path / "synth"
    assert _run("synth", "--pair", "es-en", "--out-dir", corpus, "--num-train", 3, "--num-dev", 0, "--num-test", 0,
                "--num-jobs", 1) == 0
    train = corpus / "es-en_cuts_train.jsonl.gz"
    assert len(CutSet.from_file(train).to_eager()) == 3
    noise = tmp_path / "noise"
    argv = ["--out-dir", noise, "--speech-cuts", train, "--num-noise", 2, "--num-music", 1, "--num-babble", 1]
    assert _run("synth-noise", *argv) == 0
    babble = (noise / "noise/babble/ANNOTATIONS").read_text().split()
    assert babble[1] == "babble" and all(field.split(":")[0].startswith("es-en_train_") for field in babble[2:])
    assert _run("musan", "--corpus-dir", noise, "--out-dir", tmp_path / "musan") == 0
    cuts = CutSet.from_file(tmp_path / "musan" / "musan_cuts.jsonl.gz").to_eager()
    assert {c.recording.id.split("-")[1] for c in cuts} == {"coloured", "babble", "synthetic"}


def test_prepare_synth_is_hent_srt_synth():
    """One implementation: the same options, the same function."""
    parser, _ = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    synth = {a.dest: a.default for a in sub.choices["synth"]._actions}
    prepare = next(a for a in sub.choices["prepare"]._actions if isinstance(a, argparse._SubParsersAction))
    assert {a.dest: a.default for a in prepare.choices["synth"]._actions} == synth
    assert set(CORPORA) == {"iwslt22_ta", "fisher_callhome", "hkust", "multi_conv", "musan", "synth", "synth-noise"}


@pytest.mark.parametrize(
    "argv",
    [
        ["iwslt22_ta", "--corpus-dir", "{missing}", "--split-dir", "{missing}"],
        ["fisher_callhome", "--translation-dir", "{missing}", "--callhome-audio-dir", "{missing}",
         "--callhome-transcript-dir", "{missing}"],
        ["hkust", "--audio-dir", "{missing}", "--transcript-dir", "{missing}", "--translation-tsv", "{missing}/t.tsv"],
        ["multi_conv", "--fisher-callhome-dir", "{missing}"],
        ["musan", "--corpus-dir", "{missing}"],
        ["synth-noise", "--speech-cuts", "{missing}/cuts.jsonl.gz"],
    ],
)
def test_missing_input_is_one_line_and_exit_2(argv, tmp_path, capsys):
    missing = str(tmp_path / "missing")
    out = tmp_path / "out"
    assert _run(*[a.format(missing=missing) for a in argv], "--out-dir", out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hent-srt prepare {argv[0]}: error: ") and missing in err and "Traceback" not in err
    assert not out.exists()
