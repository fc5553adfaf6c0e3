"""Feature extraction: frame counts, spectral content, resampling, speed perturbation, atomicity, errors."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
from lhotse import CutSet, Fbank, Recording

from hent_srt.data import features as feats_mod
from hent_srt.data.features import FeatureInputError, compute_features, output_paths
from hent_srt.data.schema import SchemaError, make_supervision


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
    cuts = CutSet.from_file(manifest)
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
    for cut in CutSet.from_file(manifest):
        i = int(cut.id[3:])
        peak = int(np.argmax(cut.load_features().mean(axis=0)))
        assert abs(peak - expected_bin(tiny.tone_frequency(i))) <= 1, (cut.id, cut.recording.sampling_rate)


def test_speed_perturbation_adds_suffixed_cuts_with_scaled_duration_and_pitch(tmp_path, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=2, rates=(16000,))
    cuts = CutSet.from_file(compute_features(cuts_path, tmp_path / "fbank", "sp", speed_perturb=True))
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


def test_interrupted_run_leaves_no_manifest_and_a_rerun_completes(tmp_path, monkeypatch, tiny):
    cuts_path = tiny.write_cuts(tmp_path, num=4, rates=(16000,))
    out = tmp_path / "fbank"
    manifest, arrays = output_paths(out, "train")
    compute_features(cuts_path, out, "train")
    assert manifest.is_file()

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
    assert not manifest.exists(), "the old manifest must not survive a run that replaces it"
    assert sorted(p.name for p in out.iterdir()) == [arrays.name]

    monkeypatch.setattr(Fbank, "extract", real_extract)
    cuts = CutSet.from_file(compute_features(cuts_path, out, "train", speed_perturb=True))
    assert len(cuts) == 12
    assert all(c.load_features().shape[0] == c.num_frames for c in cuts)


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
    cuts16 = CutSet.from_file(compute_features(path, tmp_path / "fbank", "train", resample=16000)).to_eager()
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
