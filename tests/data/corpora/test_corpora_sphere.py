"""SPHERE reading through libsndfile: headers, mu-law decoding, shorten rejection, FLAC copies, lhotse."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from lhotse import Recording
from lhotse.audio import backend as lhotse_backend

from hent_srt.data.corpora.sphere import (
    ShortenCompressedError,
    check_sphere,
    convert_to_flac,
    read_sphere_header,
    sphere_recording,
    use_libsndfile_for_sphere,
)


def test_this_libsndfile_reads_nist_sphere():
    assert "NIST" in sf.available_formats()


def test_header_fields_are_parsed_with_their_types(ldc, tmp_path):
    path = ldc.write_sphere(tmp_path / "a.sph", ldc.tones([300.0, 900.0], 0.5))
    header = read_sphere_header(path)
    assert header.header_size == 1024
    assert header.fields["sample_count"] == 4000
    assert header.fields["channel_count"] == 2
    assert header.fields["database_id"] == "hent-srt-fixture"
    assert header.sample_coding == "ulaw" and not header.is_shorten


@pytest.mark.parametrize("coding, max_error", [("pcm", 0), ("ulaw", 0.03)])
def test_libsndfile_decodes_hand_written_sphere(ldc, tmp_path, coding, max_error):
    audio = ldc.tones([300.0, 900.0], 0.5)
    path = ldc.write_sphere(tmp_path / f"{coding}.sph", audio, coding)
    decoded, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == ldc.RATE and decoded.shape == audio.shape
    # mu-law keeps ~4 significant bits per segment: error relative to the magnitude, ~3 % at most
    error = np.abs(decoded.astype(np.int64) - audio) / np.maximum(np.abs(audio), 256)
    assert error.max() <= max_error


def test_mulaw_encoder_matches_libsndfile_encoder(ldc, tmp_path):
    audio = np.arange(-32768, 32768, 97, dtype=np.int16)[:, None]
    sf.write(str(tmp_path / "ref.sph"), audio, ldc.RATE, format="NIST", subtype="ULAW")
    reference = np.frombuffer((tmp_path / "ref.sph").read_bytes()[1024:], dtype=np.uint8)
    assert np.array_equal(ldc.mulaw_encode(audio[:, 0]), reference)


def test_shorten_file_is_rejected_with_conversion_advice(ldc, tmp_path):
    path = ldc.write_sphere(tmp_path / "sp_0001.sph", ldc.tones([300.0, 900.0], 0.2), "shorten")
    assert read_sphere_header(path).is_shorten
    with pytest.raises(ShortenCompressedError) as info:
        check_sphere(path)
    message = str(info.value)
    assert str(path) in message and "shorten" in message and "sph2pipe -f wav" in message and "sox" in message


def test_non_sphere_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "x.sph"
    path.write_bytes(b"RIFF" + bytes(2000))
    with pytest.raises(ValueError, match="not a NIST SPHERE file"):
        read_sphere_header(path)


def test_flac_copy_holds_the_decoded_samples(ldc, tmp_path):
    path = ldc.write_sphere(tmp_path / "a.sph", ldc.tones([300.0, 900.0], 0.5))
    flac = convert_to_flac(path, tmp_path / "flac" / "a.flac")
    original, _ = sf.read(str(path), dtype="int16", always_2d=True)
    copy, rate = sf.read(str(flac), dtype="int16", always_2d=True)
    assert rate == ldc.RATE and np.array_equal(original, copy)
    assert sorted(p.name for p in flac.parent.iterdir()) == ["a.flac"]


def test_recording_keeps_every_channel_and_lhotse_loads_it(ldc, tmp_path, monkeypatch):
    monkeypatch.setattr(lhotse_backend, "CURRENT_AUDIO_BACKEND", None)  # restored after the test
    audio = ldc.tones([300.0, 900.0], 0.5)
    path = ldc.write_sphere(tmp_path / "a.sph", audio, "pcm")
    recording = sphere_recording(path, "call")
    assert recording.channel_ids == [0, 1] and recording.num_samples == 4000 and recording.duration == 0.5
    use_libsndfile_for_sphere()
    loaded = recording.load_audio()
    assert np.allclose(loaded.T, audio / 32768.0, atol=1e-4)
    via_flac = sphere_recording(path, "call", flac_dir=tmp_path / "flac")
    assert via_flac.sources[0].source.endswith("call.flac")
    assert np.allclose(Recording.from_dict(via_flac.to_dict()).load_audio(channels=1), loaded[1:], atol=1e-6)
