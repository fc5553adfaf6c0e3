"""The generated noise set: MUSAN's layout read by prepare musan, noise colours, babble, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording
from scipy.signal import welch

from hent_srt.data.corpora.musan import prepare_musan
from hent_srt.data.corpora.synth_noise import RATE, NoiseSetSizes, make_noise_set

SIZES = NoiseSetSizes(num_noise=3, num_music=2, num_babble=3)


@pytest.fixture(scope="module")
def speech_cuts(tmp_path_factory):
    """Seven 'utterances' (distinct noise bursts of 1-2.5 s), one of them at 8 kHz, as a cut manifest."""
    root = tmp_path_factory.mktemp("speech")
    rng = np.random.default_rng(5)
    cuts = []
    for i in range(7):
        rate = 8000 if i == 3 else RATE
        path = root / f"utt{i}.wav"
        sf.write(str(path), 0.2 * rng.standard_normal(round(rng.uniform(1.0, 2.5) * rate)), rate, subtype="FLOAT")
        cuts.append(Recording.from_file(path, recording_id=f"utt{i}").to_cut())
    manifest = root / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(manifest)
    return manifest


@pytest.fixture(scope="module")
def noise_dir(speech_cuts, tmp_path_factory):
    return make_noise_set(tmp_path_factory.mktemp("noise") / "set", speech_cuts, SIZES, seed=3)


def _annotations(folder):
    return {line.split()[0]: line.split()[1:] for line in (folder / "ANNOTATIONS").read_text().splitlines()}


def test_the_tree_is_read_by_prepare_musan(noise_dir, tmp_path):
    recordings, cuts = prepare_musan(noise_dir, tmp_path / "musan")
    assert len(recordings["noise"]) == SIZES.num_noise + SIZES.num_babble
    assert len(recordings["music"]) == SIZES.num_music
    assert all(r.sampling_rate == RATE for part in recordings.values() for r in part)
    assert len(cuts) >= len(recordings["noise"]) + len(recordings["music"]) - SIZES.num_babble
    assert all(1.0 <= c.duration <= 10.0 for c in cuts)
    assert (tmp_path / "musan" / "musan_cuts.jsonl.gz").is_file()
    total = sum(r.duration for part in recordings.values() for r in part)
    assert total < 120  # a small set: seconds, not hours


def _slope(samples: np.ndarray) -> float:
    """Least-squares slope of log10 power against log10 frequency over 50 Hz - 5 kHz (Welch estimate)."""
    freqs, power = welch(samples, fs=RATE, nperseg=4096)
    band = (freqs >= 50) & (freqs <= 5000)
    return float(np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0])


def test_noise_colours_have_their_spectral_slopes(noise_dir):
    colours = _annotations(noise_dir / "noise/coloured")
    assert [c[0] for c in colours.values()] == ["white", "pink", "brown"]
    for file_id, (colour,) in colours.items():
        samples, rate = sf.read(str(noise_dir / "noise/coloured" / f"{file_id}.wav"))
        assert rate == RATE and 4.0 <= len(samples) / rate <= 16.0
        expected = {"white": 0.0, "pink": -1.0, "brown": -2.0}[colour]
        assert _slope(samples) == pytest.approx(expected, abs=0.15), colour


def test_babble_is_the_sum_of_the_named_utterances(noise_dir, speech_cuts):
    cuts = CutSet.from_file(speech_cuts).to_eager()
    babbles = _annotations(noise_dir / "noise/babble")
    assert len(babbles) == SIZES.num_babble
    for file_id, fields in babbles.items():
        assert fields[0] == "babble" and 3 <= len(fields) - 1 <= 6
        names, gains = zip(*(f.split(":") for f in fields[1:]))
        mix, rate = sf.read(str(noise_dir / "noise/babble" / f"{file_id}.wav"))
        sources = np.zeros((len(mix), len(names)))
        for k, name in enumerate(names):
            cut = cuts[name] if cuts[name].sampling_rate == RATE else cuts[name].resample(RATE)
            audio = cut.load_audio()[0]
            sources[: len(audio), k] = audio
        assert len(mix) == max(np.count_nonzero(sources[:, k]) for k in range(len(names)))
        fitted, *_ = np.linalg.lstsq(sources, mix, rcond=None)
        np.testing.assert_allclose(fitted, np.array(gains, dtype=float), rtol=2e-3)
        residual = mix - sources @ fitted
        assert np.sqrt(np.mean(residual**2)) < 1e-4 < np.sqrt(np.mean(mix**2))


def test_music_is_tonal_unlike_noise(noise_dir):
    def flatness(path):
        samples, _ = sf.read(str(path))
        _, power = welch(samples, fs=RATE, nperseg=2048)
        power = power[1:] + 1e-20
        return float(np.exp(np.mean(np.log(power))) / np.mean(power))

    music = sorted((noise_dir / "music/synthetic").glob("*.wav"))
    assert len(music) == SIZES.num_music
    white = noise_dir / "noise/coloured/noise-coloured-0000.wav"
    assert all(flatness(path) < 0.05 for path in music) and flatness(white) > 0.5
    assert all(fields[:2] == ["Synthetic", "N"] for fields in _annotations(noise_dir / "music/synthetic").values())


def test_same_seed_same_bytes(noise_dir, speech_cuts, tmp_path):
    again = make_noise_set(tmp_path / "again", speech_cuts, SIZES, seed=3)
    files = sorted(p.relative_to(noise_dir) for p in noise_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((noise_dir / f).read_bytes() == (again / f).read_bytes() for f in files)
    other = make_noise_set(tmp_path / "other", None, NoiseSetSizes(1, 0, 0), seed=4)
    white = "noise/coloured/noise-coloured-0000.wav"
    assert (other / white).read_bytes() != (noise_dir / white).read_bytes()


def test_errors(speech_cuts, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("user data")
    with pytest.raises(ValueError, match="not an empty directory"):
        make_noise_set(tmp_path / "full", speech_cuts, SIZES)
    assert (tmp_path / "full" / "keep.txt").read_text() == "user data"
    with pytest.raises(ValueError, match="speech_cuts is needed"):
        make_noise_set(tmp_path / "a", None, SIZES)
    few = tmp_path / "few.jsonl.gz"
    CutSet.from_cuts(list(CutSet.from_file(speech_cuts))[:2]).to_file(few)
    with pytest.raises(ValueError, match="has 2 cut"):
        make_noise_set(tmp_path / "b", few, SIZES)
    with pytest.raises(ValueError, match="num_music must be an integer >= 0"):
        make_noise_set(tmp_path / "c", None, NoiseSetSizes(1, -1, 0))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
