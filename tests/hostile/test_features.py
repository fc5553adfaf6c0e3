"""Hostile inputs to ``hent-srt features``: missing or broken audio, bad texts and ids, bad options and output
paths; and the re-runs: a fixed transcript is recomputed, a damaged archive is detected, temporaries of killed runs
are removed, outputs get normal permissions."""

from __future__ import annotations

import json
import shutil

import pytest
from hostile_kit import (
    fail,
    file_kept,
    manifest_complete,
    manifest_lines,
    mode_is,
    no_temporaries,
    run_cli,
    snapshot,
    succeeded,
    unchanged,
    user_error,
    with_supervision_text,
    write_gz_lines,
)


def features(capsys, cuts_in, out, *extra):
    return run_cli(capsys, "features", "--cuts-in", cuts_in, "--out-dir", out, "--split", "test", *extra)


@pytest.fixture
def earlier(feats, tmp_path):
    """A copy of a complete earlier output of split ``test`` in tmp_path/out, and its snapshot."""
    out = tmp_path / "out"
    shutil.copytree(feats.parent, out)
    return out, snapshot(out)


@pytest.fixture
def own_audio(makers, tmp_path):
    """Cuts over copies of two tones in tmp_path/audio: (manifest, [audio paths])."""
    audio = tmp_path / "audio"
    audio.mkdir()
    paths = [makers.write_tone(audio / f"a{i}.wav", 300.0 + 100 * i, 1.0, 16000, seed=i) for i in range(2)]
    manifest = tmp_path / "cuts_own.jsonl.gz"
    makers.audio_cuts(paths).to_file(manifest)
    return manifest, paths


@pytest.mark.hostile("message")
def test_missing_audio_names_the_cut_and_file(own_audio, earlier, capsys):
    manifest, paths = own_audio
    paths[1].unlink()
    out, before = earlier
    user_error(features(capsys, manifest, out), "a1", str(paths[1]), hint="--corpus-dir|make the corpus audio")
    unchanged(before, out)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"not audio at all" * 100])
def test_audio_that_is_not_audio_names_the_file(own_audio, earlier, capsys, content):
    manifest, paths = own_audio
    paths[0].write_bytes(content)
    out, before = earlier
    user_error(features(capsys, manifest, out), str(paths[0]))
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_rate_mismatch_without_resampling(raw_cuts, earlier, capsys):
    out, before = earlier
    user_error(features(capsys, raw_cuts, out, "--resample", "0"), "tone8000", "8000 Hz", hint="--resample 16000")
    unchanged(before, out)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize(("option", "value"), [("--num-jobs", "0"), ("--num-jobs", "-2"), ("--resample", "100"),
                                               ("--resample", "x"), ("--split", "a/b"), ("--split", "")])
def test_bad_option_names_the_option(raw_cuts, earlier, capsys, option, value):
    out, before = earlier
    args = ["--cuts-in", raw_cuts, "--out-dir", out]
    args += [option, value] if option == "--split" else ["--split", "test", option, value]
    user_error(run_cli(capsys, "features", *args), option)
    unchanged(before, out)


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("text", "kind"), [("", "empty"), ("  \t ", "whitespace-only"), ("\u200b\u200d", "invisible")])
def test_blank_transcript_names_the_cut(raw_cuts, earlier, tmp_path, capsys, text, kind):
    bad = with_supervision_text(raw_cuts, tmp_path / "cuts_blank.jsonl.gz", {1: text})
    out, before = earlier
    user_error(features(capsys, bad, out), "tone16000", kind)
    unchanged(before, out)


@pytest.mark.hostile("silent")
def test_duplicate_cut_ids_are_named(raw_cuts, earlier, tmp_path, capsys):
    lines = manifest_lines(raw_cuts)
    other = json.loads(lines[1])
    other["id"] = json.loads(lines[0])["id"]
    other["supervisions"][0]["text"] = "otro texto"
    bad = write_gz_lines(tmp_path / "cuts_dup.jsonl.gz", [lines[0], json.dumps(other), lines[2]])
    out, before = earlier
    user_error(features(capsys, bad, out), "tone8000", "duplicate")
    unchanged(before, out)


@pytest.mark.hostile("data-loss")
def test_out_dir_that_is_a_file(raw_cuts, tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("a file\n")
    user_error(features(capsys, raw_cuts, target), str(target))
    file_kept(target)


@pytest.mark.hostile("traceback")
def test_out_dir_below_a_file(raw_cuts, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    user_error(features(capsys, raw_cuts, blocker / "out"), str(blocker))
    file_kept(blocker, "x")


@pytest.mark.hostile("message")
def test_recordings_without_supervisions(raw_cuts, tmp_path, capsys):
    user_error(run_cli(capsys, "features", "--recordings", raw_cuts, "--out-dir", tmp_path, "--split", "x"),
               "--supervisions")


@pytest.mark.hostile("silent")
def test_fixed_transcript_is_recomputed(raw_cuts, tmp_path, capsys):
    # the skip decides on the content of the input, not on its cut ids
    source = with_supervision_text(raw_cuts, tmp_path / "cuts_in.jsonl.gz", {0: "hola con un error"})
    out = tmp_path / "out"
    succeeded(features(capsys, source, out))
    with_supervision_text(raw_cuts, source, {0: "hola corregido"})
    succeeded(features(capsys, source, out))
    texts = [json.loads(line)["supervisions"][0]["text"] for line in manifest_lines(out / "cuts_test.jsonl.gz")]
    if "hola corregido" not in texts:
        fail("silent", f"the re-run kept the old transcript: {texts}")
    manifest_complete(out / "cuts_test.jsonl.gz")
    no_temporaries(out)


@pytest.mark.hostile("data-loss")
def test_unchanged_input_is_skipped_and_kept_byte_for_byte(raw_cuts, tmp_path, capsys):
    out = tmp_path / "out"
    succeeded(features(capsys, raw_cuts, out))
    before = snapshot(out)
    succeeded(features(capsys, raw_cuts, out))
    unchanged(before, out)


@pytest.mark.hostile("data-loss")
def test_truncated_archive_is_detected_and_recomputed(raw_cuts, tmp_path, capsys):
    out = tmp_path / "out"
    succeeded(features(capsys, raw_cuts, out))
    (archive,) = out.glob("feats_test-*/*.lca")
    archive.write_bytes(archive.read_bytes()[:100])
    succeeded(features(capsys, raw_cuts, out))
    manifest_complete(out / "cuts_test.jsonl.gz")


@pytest.mark.hostile("silent")
def test_changed_settings_are_recomputed(raw_cuts, tmp_path, capsys):
    out = tmp_path / "out"
    succeeded(features(capsys, raw_cuts, out))
    succeeded(features(capsys, raw_cuts, out, "--speed-perturb"))
    ids = [json.loads(line)["id"] for line in manifest_lines(out / "cuts_test.jsonl.gz")]
    if not any(i.endswith("_sp0.9") for i in ids):
        fail("silent", f"--speed-perturb on a re-run was skipped: {ids}")
    if len(list(out.glob("feats_test-*"))) != 1:
        fail("files", f"the replaced arrays were not removed: {sorted(p.name for p in out.iterdir())}")


@pytest.mark.hostile("files")
def test_temporaries_of_a_killed_run_are_removed(raw_cuts, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [out / ".feats_test-0123456789ab.tmp", out / ".cuts_test.0123456789ab.tmp.jsonl.gz",
                 out / ".cuts_test.meta.json.99999999.abcdefgh.tmp"]
    leftovers[0].mkdir()
    (leftovers[0] / "feats-0.lca").write_bytes(b"half")
    for path in leftovers[1:]:
        path.write_bytes(b"half")
    succeeded(features(capsys, raw_cuts, out))
    no_temporaries(out)


@pytest.mark.hostile("files")
def test_outputs_have_normal_permissions(raw_cuts, tmp_path, capsys):
    out = tmp_path / "out"
    succeeded(features(capsys, raw_cuts, out))
    mode_is(out / "cuts_test.jsonl.gz")
    mode_is(out / "cuts_test.meta.json")
    (arrays,) = out.glob("feats_test-*")
    mode_is(arrays, 0o755)
    for archive in arrays.iterdir():
        mode_is(archive)


@pytest.mark.hostile("files")
def test_manifest_works_from_another_directory_after_a_move(raw_cuts, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    succeeded(features(capsys, raw_cuts, out))
    moved = tmp_path / "elsewhere" / "fbank"
    shutil.move(str(out), moved)
    monkeypatch.chdir(tmp_path)
    manifest_complete(moved / "cuts_test.jsonl.gz")
