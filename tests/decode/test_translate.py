"""``hent-srt translate``: audio at 8, 16 and 44.1 kHz gives the hypotheses ``hent-srt decode`` gives on the same
audio; its features are those of ``hent-srt features`` (up to the lilcom rounding of stored arrays); WAV, FLAC and
SPHERE; the first channel; unreadable files are named and skipped; JSON; streaming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet

from hent_srt import cli
from hent_srt.data.features import compute_features
from hent_srt.data.loader import make_dataloader
from hent_srt.data.manifest import read_cuts
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.decode.translate import audio_cut

pytestmark = pytest.mark.usefixtures("one_thread")

# lhotse's LilcomChunkyWriter stores fbank with tick_power -5: steps of 1/32, rounding errors up to 1/64.
LILCOM_MAX_ERROR = 2.0**-6


def translate(exp_dir: Path, paths: list[Path], *extra: str) -> int:
    return cli.main(["translate", *map(str, paths), "--exp-dir", str(exp_dir), "--checkpoint",
                     str(exp_dir / "epoch-2.pt"), *extra])


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def kaldi_text(path: Path) -> dict[str, str]:
    lines = (line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines())
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in lines}


def decode_audio(exp_dir: Path, paths: list[Path], out: Path, helpers, *extra: str) -> tuple[dict, dict]:
    """``hent-srt decode`` of a manifest of ``paths`` (features computed from their audio, resampled to 16 kHz):
    (ASR, ST) hypotheses by file stem."""
    helpers.audio_cuts(paths).to_file(out / "cuts_audio.jsonl.gz")
    assert cli.main(["decode", "--exp-dir", str(exp_dir), "--checkpoint", str(exp_dir / "epoch-2.pt"), "--cuts",
                     str(out / "cuts_audio.jsonl.gz"), "--out-dir", str(out), "--on-the-fly-features", *extra]) == 0
    (asr,) = out.glob("hyps-asr-audio-*.txt")
    (st,) = out.glob("hyps-st-audio-*.txt")
    return kaldi_text(asr), kaldi_text(st)


def test_translate_equals_decode_at_8_16_and_44k(tiny_exp, tones, helpers, tmp_path, capsys):
    paths = list(tones.values())
    asr, st = decode_audio(tiny_exp.dir, paths, tmp_path, helpers)
    capsys.readouterr()
    assert translate(tiny_exp.dir, paths, "--json") == 0
    results = json_lines(capsys.readouterr().out)
    assert [r["file"] for r in results] == [str(p) for p in paths]
    assert [r["sampling_rate"] for r in results] == [8000, 16000, 44100]
    for result, path in zip(results, paths):
        assert result["transcript"] == asr[path.stem] and result["translation"] == st[path.stem], path
    assert any(r["transcript"] for r in results) and len({r["translation"] for r in results}) > 1
    # the text form prints the same hypotheses
    assert translate(tiny_exp.dir, paths[:1]) == 0
    assert capsys.readouterr().out == f"{paths[0]}\n  transcript:  {asr[paths[0].stem]}\n  translation: {st[paths[0].stem]}\n"


def test_features_are_those_of_hent_srt_features(tiny_exp, tones, helpers, tmp_path):
    paths = list(tones.values())
    helpers.audio_cuts(paths).to_file(tmp_path / "raw.jsonl.gz")
    stored = {c.id: c for c in read_cuts(compute_features(tmp_path / "raw.jsonl.gz", tmp_path, "tones"))}
    tokenizer = Tokenizer(tiny_exp.config.data.src_bpe_model)
    for path in paths:
        cut = audio_cut(path, path.stem)
        batch = next(iter(make_dataloader(CutSet.from_cuts([cut]), tokenizer, None, 100.0, False, on_the_fly=True)))
        reference = torch.from_numpy(stored[path.stem].load_features())
        assert batch.features[0].shape == reference.shape == (120, 80)
        assert float((batch.features[0] - reference).abs().max()) <= LILCOM_MAX_ERROR + 1e-6


def test_formats_and_the_first_channel(tiny_exp, helpers, tmp_path, capsys):
    stereo = helpers.write_tone(tmp_path / "stereo.wav", 500.0, 1.0, 16000, channels=2, seed=3)
    data, rate = sf.read(stereo, dtype="int16")
    sf.write(tmp_path / "left.wav", data[:, 0], rate, subtype="PCM_16")
    sf.write(tmp_path / "right.wav", data[:, 1], rate, subtype="PCM_16")
    sf.write(tmp_path / "stereo16.wav", data, rate, subtype="PCM_16")
    sf.write(tmp_path / "left.flac", data[:, 0], rate, subtype="PCM_16")
    sf.write(tmp_path / "left.sph", data[:, 0], rate, format="NIST", subtype="PCM_16")
    names = ["left.wav", "stereo16.wav", "left.flac", "left.sph", "right.wav"]
    assert translate(tiny_exp.dir, [tmp_path / n for n in names], "--json") == 0
    results = {Path(r["file"]).name: r for r in json_lines(capsys.readouterr().out)}
    assert results["stereo16.wav"]["channels"] == 2
    first = {k: results["left.wav"][k] for k in ("transcript", "translation")}
    for name in ("stereo16.wav", "left.flac", "left.sph"):
        assert {k: results[name][k] for k in first} == first, name
    assert {k: results["right.wav"][k] for k in first} != first  # another channel gives other hypotheses


def test_unreadable_files_are_named_and_the_others_decoded(tiny_exp, tones, tmp_path, capsys):
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(tmp_path / "short.wav", np.zeros(400, dtype=np.float32), 16000)  # 25 ms: too short for the front end
    paths = [tmp_path / "noise.wav", tones[16000], tmp_path / "missing.flac", tmp_path / "short.wav"]
    assert translate(tiny_exp.dir, paths, "--json") == 1
    out, err = capsys.readouterr()
    results = json_lines(out)
    assert [Path(r["file"]).name for r in results] == [p.name for p in paths]
    assert "transcript" in results[1] and all("error" in results[i] for i in (0, 2, 3))
    for name in ("noise.wav", "missing.flac", "short.wav"):
        assert name in err
    assert "3 of 4 file(s) could not be decoded" in err and "Traceback" not in err


def test_streaming_translate_equals_streaming_decode(helpers, tones, tmp_path, capsys):
    exp = helpers.make_experiment(tmp_path / "causal", causal=True, seed=1)
    paths = list(tones.values())
    asr, st = decode_audio(exp.dir, paths, tmp_path, helpers, "--streaming")
    capsys.readouterr()
    assert translate(exp.dir, paths, "--streaming", "--json") == 0
    for result, path in zip(json_lines(capsys.readouterr().out), paths):
        assert result["transcript"] == asr[path.stem] and result["translation"] == st[path.stem], path
