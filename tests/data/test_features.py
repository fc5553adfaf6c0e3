"""Feature extraction: frame counts, spectral content, resampling, speed perturbation, noise cuts; nothing lost
(interruptions, kill -9, concurrent runs), content-based re-runs, relocatable manifests, errors."""

from __future__ import annotations

import argparse
import fcntl
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from lhotse import CutSet, Fbank, Recording

from hent_srt.data import features as feats_mod
from hent_srt.data.features import FeatureInputError, compute_features, output_paths, record_problem
from hent_srt.data.manifest import ManifestError, read_cuts
from hent_srt.data.schema import SchemaError, make_supervision
from hent_srt.fileio import LOCK_NAME

REPO = Path(__file__).resolve().parents[2]


def _mel(f: float) -> float:
    return 1127.0 * math.log(1.0 + f / 700.0)


def expected_bin(freq: float, num_bins: int = 80, low: float = 20.0, high: float = 16000 / 2 - 400.0) -> int:
    """Index of the mel filter (lhotse defaults: 20 Hz .. Nyquist - 400 Hz) whose centre is nearest ``freq``."""
    lo, hi = _mel(low), _mel(high)
    centres = [lo + (i + 1) * (hi - lo) / (num_bins + 1) for i in range(num_bins)]
    return int(np.argmin([abs(c - _mel(freq)) for c in centres]))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("feat")
    cuts_path = tiny.write_cuts(root, num=6)
    manifest = compute_features(cuts_path, root / "fbank", "train")
    return root, cuts_path, manifest


def test_frames_dims_and_rate_match_cut_durations(corpus, tiny):
    _, _, manifest = corpus
    cuts = read_cuts(manifest)
    assert sorted(cuts.ids) == [f"utt{i:02d}" for i in range(6)]
    for cut in cuts:
        i = int(cut.id[3:])
        arr = cut.load_features()
        assert arr.shape == (round(tiny.duration_of(i) * 100), 80)
        assert cut.num_frames == arr.shape[0]
        assert cut.features.sampling_rate == 16000 and cut.sampling_rate == 16000
        assert cut.supervisions[0].custom["translated_text"]["en"]


def test_tone_energy_lands_in_the_right_mel_bin_for_16k_and_resampled_8k_audio(corpus, tiny):
    _, _, manifest = corpus
    for cut in read_cuts(manifest):
        i = int(cut.id[3:])
        peak = int(np.argmax(cut.load_features().mean(axis=0)))
        assert abs(peak - expected_bin(tiny.tone_frequency(i))) <= 1, (cut.id, cut.recording.sampling_rate)


def test_speed_perturbation_adds_suffixed_cuts_with_scaled_duration_and_pitch(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=2, rates=(16000,))
    cuts = read_cuts(compute_features(cuts_path, tmp_path / "fbank", "sp", speed_perturb=True))
    assert sorted(cuts.ids) == sorted(
        ["utt00", "utt01", "utt00_sp0.9", "utt01_sp0.9", "utt00_sp1.1", "utt01_sp1.1"]
    )
    for cut in cuts:
        i = int(cut.id[3:5])
        factor = float(cut.id.split("_sp")[1]) if "_sp" in cut.id else 1.0
        assert cut.duration == pytest.approx(tiny.duration_of(i) / factor, abs=1e-3)
        assert cut.num_frames == pytest.approx(cut.duration * 100, abs=1)
        assert cut.supervisions[0].duration == pytest.approx(cut.duration, abs=1e-3)
        peak = int(np.argmax(cut.load_features().mean(axis=0)))
        assert abs(peak - expected_bin(tiny.tone_frequency(i) * factor)) <= 1


def test_rerun_skips_finished_work(corpus, monkeypatch, tiny):
    root, cuts_path, manifest = corpus
    before = manifest.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("extraction ran again")

    monkeypatch.setattr(CutSet, "compute_and_store_features", fail)
    assert compute_features(cuts_path, root / "fbank", "train") == manifest
    assert manifest.stat().st_mtime_ns == before


def _snapshot(manifest: Path) -> dict[str, np.ndarray]:
    """Every cut's features, loaded through the manifest (fails if an array it points at is gone)."""
    return {c.id: c.load_features() for c in read_cuts(manifest)}


def _array_dirs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("feats_"))


def test_interrupted_recompute_keeps_the_previous_manifest_and_a_rerun_completes(tmp_path, monkeypatch, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=4, rates=(16000,))
    out = tmp_path / "fbank"
    manifest, record = output_paths(out, "train")
    compute_features(cuts_path, out, "train")
    before = _snapshot(manifest)
    calls = {"n": 0}
    real_extract = Fbank.extract

    def flaky(self, samples, sampling_rate):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interruption")
        return real_extract(self, samples, sampling_rate)

    monkeypatch.setattr(Fbank, "extract", flaky)
    with pytest.raises(KeyboardInterrupt):
        compute_features(cuts_path, out, "train", speed_perturb=True)
    after = _snapshot(manifest)
    assert sorted(after) == sorted(before) and all(np.array_equal(after[k], before[k]) for k in before)
    assert record_problem(manifest) is None
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, manifest.name, record.name, *_array_dirs(out)])
    assert len(_array_dirs(out)) == 1

    monkeypatch.setattr(Fbank, "extract", real_extract)
    cuts = read_cuts(compute_features(cuts_path, out, "train", speed_perturb=True))
    assert len(cuts) == 12
    assert all(c.load_features().shape[0] == c.num_frames for c in cuts)
    assert len(_array_dirs(out)) == 1, "the previous run's arrays are removed once nothing points at them"


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from lhotse import Fbank
    from hent_srt.data import features
    cuts_in, out, point = sys.argv[1:4]
    if point == "extraction":
        real = Fbank.extract
        calls = []
        def extract(self, samples, sampling_rate):
            calls.append(1)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, samples, sampling_rate)
        Fbank.extract = extract
    else:
        real_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith("cuts_train.jsonl.gz"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)
        features.os.replace = replace
    features.compute_features(cuts_in, out, "train", speed_perturb=True)
""")


@pytest.mark.parametrize("point", ["extraction", "before the manifest is replaced"])
def test_kill_9_while_recomputing_loses_nothing_and_the_next_run_cleans_up(tmp_path, tiny, point):
    cuts_path = tiny.write_cuts(tmp_path, num=3, rates=(16000,))
    out = tmp_path / "fbank"
    manifest, _ = output_paths(out, "train")
    compute_features(cuts_path, out, "train")
    before = _snapshot(manifest)
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(cuts_path), str(out), point], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    after = _snapshot(manifest)
    assert sorted(after) == sorted(before) and all(np.array_equal(after[k], before[k]) for k in before)
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME]
    assert leftovers or len(_array_dirs(out)) == 2, "the killed run left something to clean"

    cuts = read_cuts(compute_features(cuts_path, out, "train", speed_perturb=True))
    assert len(cuts) == 9 and all(c.load_features().shape[0] == c.num_frames for c in cuts)
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME] == []
    assert len(_array_dirs(out)) == 1


def test_concurrent_runs_into_one_directory_both_succeed_and_leave_a_valid_manifest(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=3, rates=(16000,))
    out = tmp_path / "fbank"
    cmd = [sys.executable, "-m", "hent_srt.cli", "features", "--cuts-in", str(cuts_path), "--out-dir", str(out)]
    procs = [subprocess.Popen([*cmd, "--split", "train", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for extra in ([], ["--speed-perturb"])]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1].decode()[-2000:] for r in results]
    manifest, _ = output_paths(out, "train")
    cuts = _snapshot(manifest)
    assert len(cuts) in (3, 9) and record_problem(manifest) is None
    assert len(_array_dirs(out)) == 1


def test_a_locked_directory_is_refused_after_the_timeout_naming_it_and_the_holder(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=1, rates=(16000,))
    out = tmp_path / "fbank"
    out.mkdir()
    with open(out / LOCK_NAME, "w") as holder:  # another open file description: as another process would hold it
        holder.write(f"pid {os.getpid()}\n")
        holder.flush()
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ValueError, match=rf"{out} is in use by .*pid {os.getpid()}"):
            compute_features(cuts_path, out, "train", lock_timeout=0)
    assert not output_paths(out, "train")[0].exists()


def test_a_fixed_transcript_is_picked_up_by_the_rerun(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=3, rates=(16000,))
    out = tmp_path / "fbank"
    manifest = compute_features(cuts_path, out, "train")
    cuts = CutSet.from_file(cuts_path).to_eager()
    cuts["utt01"].supervisions[0].text = "el texto corregido"
    cuts.to_file(cuts_path)
    fixed = read_cuts(compute_features(cuts_path, out, "train")).to_eager()
    assert fixed["utt01"].supervisions[0].text == "el texto corregido"
    assert fixed["utt01"].load_features().shape == (round(tiny.duration_of(1) * 100), 80)
    assert record_problem(manifest) is None


def test_the_same_input_written_again_is_not_recomputed(tmp_path, tiny, monkeypatch):
    cuts_path = tiny.write_cuts(tmp_path, num=2, rates=(16000,))
    out = tmp_path / "fbank"
    compute_features(cuts_path, out, "train")
    CutSet.from_file(cuts_path).to_eager().to_file(cuts_path)  # new gzip header, same content
    monkeypatch.setattr(CutSet, "compute_and_store_features", lambda *a, **k: pytest.fail("recomputed"))
    compute_features(cuts_path, out, "train")


@pytest.mark.parametrize("victim", ["archive", "manifest"])
def test_a_truncated_archive_or_manifest_is_detected_and_recomputed(tmp_path, tiny, victim):
    cuts_path = tiny.write_cuts(tmp_path, num=3, rates=(16000,))
    out = tmp_path / "fbank"
    manifest = compute_features(cuts_path, out, "train")
    path = next((out / _array_dirs(out)[0]).iterdir()) if victim == "archive" else manifest
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "truncated" in record_problem(manifest)
    cuts = _snapshot(compute_features(cuts_path, out, "train"))
    assert sorted(cuts) == ["utt00", "utt01", "utt02"]
    assert record_problem(manifest) is None


def test_storage_paths_are_relative_to_the_manifest_so_the_directory_can_move(tmp_path, tiny, monkeypatch):
    cuts_path = tiny.write_cuts(tmp_path, num=2, rates=(16000,))
    manifest = compute_features(cuts_path, tmp_path / "fbank", "train")
    with gzip.open(manifest, "rt", encoding="utf-8") as f:
        storage = [json.loads(line)["features"]["storage_path"] for line in f]
    assert all(not Path(p).is_absolute() and p.startswith("feats_train-") for p in storage)
    before = _snapshot(manifest)
    shutil.move(tmp_path / "fbank", tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    after = _snapshot(tmp_path / "moved" / manifest.name)
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_shuffle_writes_the_same_cuts_in_a_fixed_random_order(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=8, rates=(16000,))
    plain = [c.id for c in read_cuts(compute_features(cuts_path, tmp_path / "a", "train", speed_perturb=True))]
    mixed = [c.id for c in read_cuts(compute_features(cuts_path, tmp_path / "b", "train", speed_perturb=True,
                                                      shuffle=True))]
    again = [c.id for c in read_cuts(compute_features(cuts_path, tmp_path / "c", "train", speed_perturb=True,
                                                      shuffle=True))]
    assert sorted(mixed) == sorted(plain) and mixed != plain and mixed == again
    assert any("_sp" in i for i in mixed[:8]), "speed-perturbed copies are no longer all at the end"


def test_noise_cuts_without_supervisions_get_features(tmp_path, tiny):
    cuts = tiny.make_cuts(tmp_path / "audio", num=2, rates=(16000,))
    for cut in cuts:
        cut.supervisions = []
    path = tmp_path / "noise.jsonl.gz"
    cuts.to_file(path)
    noise = read_cuts(compute_features(path, tmp_path / "fbank", "musan")).to_eager()
    assert sorted(noise.ids) == ["utt00", "utt01"]
    assert all(not c.supervisions and c.load_features().shape == (c.num_frames, 80) for c in noise)

    mixed = tiny.make_cuts(tmp_path / "audio2", num=2, rates=(16000,))
    mixed["utt00"].supervisions = []
    mixed.to_file(path)
    with pytest.raises(SchemaError, match="utt00: no supervision"):
        compute_features(path, tmp_path / "fbank", "musan")


def test_unreadable_manifest_lines_name_the_file_and_line(tmp_path, tiny, capsys):
    cuts_path = tiny.write_cuts(tmp_path, num=3, rates=(16000,))
    with gzip.open(cuts_path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt", encoding="utf-8") as f:
        f.write("\n".join([lines[0], lines[1][:40], lines[2]]) + "\n")
    with pytest.raises(ManifestError, match=rf"{bad}: line 2 is not valid JSON"):
        compute_features(bad, tmp_path / "fbank", "train")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(lines[1].encode() + b"\n" + lines[0].replace("casa", "ca\u00f1a").encode("latin-1") + b"\n")
    parser = argparse.ArgumentParser()
    feats_mod.add_arguments(parser)
    args = parser.parse_args(["--cuts-in", str(latin), "--out-dir", str(tmp_path / "fbank"), "--split", "x"])
    assert feats_mod.main(args) == 2
    err = capsys.readouterr().err
    assert f"{latin}: line 2 is not UTF-8" in err and "Traceback" not in err
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(cuts_path.read_bytes()[:-30])
    with pytest.raises(ManifestError, match=rf"{truncated}: the gzip stream is truncated"):
        compute_features(truncated, tmp_path / "fbank", "train")


def test_missing_audio_file_names_cut_recording_and_path(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=3)
    missing = tmp_path / "audio" / "utt01.flac"
    missing.unlink()
    with pytest.raises(FeatureInputError) as err:
        compute_features(cuts_path, tmp_path / "fbank", "train")
    msg = str(err.value)
    assert "cut 'utt01'" in msg and "recording 'rec01'" in msg and str(missing) in msg
    assert "utt00" not in msg
    assert msg.splitlines()[-1].startswith("Fix:")
    assert not output_paths(tmp_path / "fbank", "train")[0].exists()
    assert [p.name for p in (tmp_path / "fbank").iterdir()] == [LOCK_NAME]


def test_44k_audio_without_resampling_is_refused_with_the_fix(tmp_path, tiny):
    cuts = tiny.make_cuts(tmp_path / "audio", num=2, rates=(16000,))
    tiny.write_tone(tmp_path / "hi.flac", 440.0, 0.5, 44100, seed=0)
    cut = Recording.from_file(tmp_path / "hi.flac", recording_id="rec44").to_cut()
    cut.id = "utt44"
    cut.supervisions = [make_supervision("utt44", "rec44", 0.0, 0.5, 0, "hola", "es", "hello")]
    path = tmp_path / "cuts.jsonl.gz"
    (cuts + CutSet.from_cuts([cut])).to_file(path)
    with pytest.raises(FeatureInputError) as err:
        compute_features(path, tmp_path / "fbank", "train", resample=None)
    msg = str(err.value)
    assert "cut 'utt44'" in msg and "44100 Hz" in msg and "--resample 16000" in msg
    assert "utt00" not in msg
    cuts16 = read_cuts(compute_features(path, tmp_path / "fbank", "train", resample=16000)).to_eager()
    assert cuts16["utt44"].load_features().shape == (50, 80)
    assert abs(int(np.argmax(cuts16["utt44"].load_features().mean(axis=0))) - expected_bin(440.0)) <= 1


def test_empty_transcript_is_a_schema_error_naming_the_cut(tmp_path, tiny):
    cuts = tiny.make_cuts(tmp_path / "audio", num=2, rates=(16000,))
    cuts["utt01"].supervisions[0].text = ""
    path = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(path)
    with pytest.raises(SchemaError, match=r"utt01: empty text"):
        compute_features(path, tmp_path / "fbank", "train")


def test_cli_reports_user_errors_without_traceback(tmp_path, capsys, tiny):
    parser = argparse.ArgumentParser()
    feats_mod.add_arguments(parser)
    args = parser.parse_args(
        ["--cuts-in", str(tmp_path / "nope.jsonl.gz"), "--out-dir", str(tmp_path), "--split", "x"]
    )
    assert feats_mod.main(args) == 2
    err = capsys.readouterr().err
    assert "nope.jsonl.gz" in err and "stage 0" in err and "Traceback" not in err

    cuts_path = tiny.write_cuts(tmp_path, num=1, rates=(16000,))
    args = parser.parse_args(
        ["--cuts-in", str(cuts_path), "--out-dir", str(tmp_path / "fb"), "--split", "dev"]
    )
    assert feats_mod.main(args) == 0
    assert (tmp_path / "fb" / "cuts_dev.jsonl.gz").is_file()
