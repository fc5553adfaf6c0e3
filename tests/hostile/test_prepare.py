"""Hostile inputs to stage 0: ``hent-srt prepare <corpus>`` with unknown, missing, empty or incomplete corpus
directories and output paths that are files, and ``hent-srt synth`` with impossible sizes; a preparation writes
complete manifests with normal permissions and no temporaries."""

from __future__ import annotations

import pytest
from hostile_kit import (
    fail,
    file_kept,
    mode_is,
    no_temporaries,
    run_cli,
    save_bytes,
    snapshot,
    succeeded,
    unchanged,
    user_error,
)


@pytest.fixture
def musan_tree(makers, tmp_path):
    """A MUSAN-layout tree with one noise and one music file (2 s each)."""
    root = tmp_path / "musan"
    for part, source in (("noise", "free-sound"), ("music", "fma")):
        folder = root / part / source
        folder.mkdir(parents=True)
        makers.write_tone(folder / f"{part}-{source}-0000.wav", 200.0, 2.0, 16000)
        (folder / "ANNOTATIONS").write_text(f"{part}-{source}-0000 x\n")
    return root


@pytest.mark.hostile("message")
def test_unknown_corpus_lists_the_corpora(capsys):
    user_error(run_cli(capsys, "prepare", "librispeech", "--out-dir", "x"), "librispeech", "iwslt22_ta", "musan")


@pytest.mark.hostile("message")
@pytest.mark.parametrize("corpus", ["iwslt22_ta", "fisher_callhome", "hkust", "musan"])
@pytest.mark.parametrize("state", ["missing", "empty"])
def test_corpus_directory_that_is_not_the_corpus(corpus, state, tmp_path, capsys):
    corpus_dir = tmp_path / "corpus"
    if state == "empty":
        corpus_dir.mkdir()
    out = tmp_path / "manifests"
    args = {
        "iwslt22_ta": ["--corpus-dir", corpus_dir, "--split-dir", corpus_dir],
        "fisher_callhome": ["--translation-dir", corpus_dir, "--fisher-audio-dir", corpus_dir,
                            "--fisher-transcript-dir", corpus_dir],
        "hkust": ["--audio-dir", corpus_dir, "--transcript-dir", corpus_dir, "--translation-tsv",
                  corpus_dir / "translations.tsv"],
        "musan": ["--corpus-dir", corpus_dir],
    }[corpus]
    user_error(run_cli(capsys, "prepare", corpus, *args, "--out-dir", out), str(corpus_dir))
    if out.exists() and any(out.iterdir()):
        fail("files", f"a failed preparation wrote {sorted(out.iterdir())}")


@pytest.mark.hostile("message")
def test_multi_conv_without_inputs(tmp_path, capsys):
    user_error(run_cli(capsys, "prepare", "multi_conv", "--out-dir", tmp_path / "m"), "--iwslt22-ta-dir")


@pytest.mark.hostile("message")
def test_multi_conv_with_an_empty_manifest_directory(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    user_error(run_cli(capsys, "prepare", "multi_conv", "--hkust-dir", empty, "--out-dir", tmp_path / "m"),
               str(empty))


@pytest.mark.hostile("message")
def test_musan_with_a_listed_file_missing(musan_tree, tmp_path, capsys):
    listing = musan_tree / "noise" / "free-sound" / "ANNOTATIONS"
    listing.write_text("noise-free-sound-0000 x\nnoise-free-sound-0001 y\n")
    user_error(run_cli(capsys, "prepare", "musan", "--corpus-dir", musan_tree, "--out-dir", tmp_path / "m"),
               str(listing), "noise-free-sound-0001")


@pytest.mark.hostile("traceback")
def test_musan_with_a_file_that_is_not_audio(musan_tree, tmp_path, capsys):
    bad = save_bytes(musan_tree / "noise" / "free-sound" / "noise-free-sound-0001.wav", b"not a wav" * 50)
    user_error(run_cli(capsys, "prepare", "musan", "--corpus-dir", musan_tree, "--out-dir", tmp_path / "m"),
               str(bad))


@pytest.mark.hostile("data-loss")
def test_musan_out_dir_that_is_a_file(musan_tree, tmp_path, capsys):
    target = tmp_path / "m"
    target.write_text("a file\n")
    user_error(run_cli(capsys, "prepare", "musan", "--corpus-dir", musan_tree, "--out-dir", target), str(target))
    file_kept(target)


@pytest.mark.hostile("files")
def test_musan_manifests_are_complete_with_normal_permissions(musan_tree, tmp_path, capsys):
    out = tmp_path / "m"
    succeeded(run_cli(capsys, "prepare", "musan", "--corpus-dir", musan_tree, "--out-dir", out))
    written = sorted(out.glob("*.jsonl.gz"))
    if len(written) != 3:
        fail("silent", f"expected two recording manifests and the cuts, got {written}")
    for path in written:
        mode_is(path)
    no_temporaries(out)


@pytest.mark.hostile("data-loss")
def test_synth_noise_into_a_directory_that_is_not_empty(tmp_path, capsys):
    out = tmp_path / "noise"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    before = snapshot(out)
    outcome = run_cli(capsys, "prepare", "synth-noise", "--out-dir", out, "--num-babble", "0", "--num-music", "0",
                      "--num-noise", "1")
    user_error(outcome, str(out))
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_synth_noise_babble_without_speech(tmp_path, capsys):
    user_error(run_cli(capsys, "prepare", "synth-noise", "--out-dir", tmp_path / "n"), "--speech-cuts")


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("extra", "names"), [
    (["--num-train", "-1"], ["--num-train"]),
    (["--num-train", "0", "--num-dev", "0", "--num-test", "0"], ["--num-train"]),
    (["--num-jobs", "0"], ["--num-jobs"]),
    (["--pair", "fr-en"], ["--pair", "es-en"]),
])
def test_synth_impossible_sizes(tmp_path, capsys, extra, names):
    args = ["--pair", "es-en", "--out-dir", tmp_path / "synth", "--num-train", "1", "--num-dev", "1", "--num-test",
            "1"]
    user_error(run_cli(capsys, "synth", *args, *extra), *names)
    if (tmp_path / "synth").exists() and list((tmp_path / "synth").rglob("*.gz")):
        fail("files", "a refused synth wrote manifests")


@pytest.mark.hostile("data-loss")
def test_synth_out_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "synth"
    target.write_text("a file\n")
    user_error(run_cli(capsys, "synth", "--pair", "es-en", "--out-dir", target, "--num-train", "1", "--num-dev", "0",
                       "--num-test", "0", "--num-jobs", "1"), str(target))
    file_kept(target)


@pytest.mark.hostile("files")
def test_synth_outputs_are_complete_with_normal_permissions(tmp_path, capsys):
    out = tmp_path / "synth"
    succeeded(run_cli(capsys, "synth", "--pair", "es-en", "--out-dir", out, "--num-train", "1", "--num-dev", "1",
                      "--num-test", "1", "--num-jobs", "1"))
    manifests = sorted(out.glob("*.jsonl.gz"))
    audio = sorted(out.rglob("*.flac"))
    if len(manifests) != 3 or len(audio) != 3:
        fail("silent", f"expected 3 manifests and 3 audio files: {manifests}, {audio}")
    for path in manifests + audio:
        mode_is(path)
    no_temporaries(out)
