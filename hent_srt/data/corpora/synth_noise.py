"""A small generated noise set in MUSAN's layout, so that noise mixing runs in egs/mini and in the tests.

:func:`make_noise_set` writes, under ``out_dir``, 16 kHz 16-bit wav files and an ``ANNOTATIONS`` file per
source folder, as MUSAN does, so that :func:`hent_srt.data.corpora.musan.prepare_musan` reads it unchanged::

    noise/coloured/noise-coloured-0000.wav ...  white, pink and brown noise in turn; ANNOTATIONS: id, colour
    noise/babble/noise-babble-0000.wav ...      3-6 utterances of the speech cuts summed; ANNOTATIONS: id,
                                                "babble", then the cut ids and gains (``id:gain``)
    music/synthetic/music-synthetic-0000.wav ... chords of harmonic tones with envelopes; ANNOTATIONS: id,
                                                genre, vocals (N), "hent-srt" (MUSAN's music columns)

Babble is noise for the mixing (the published recipe mixes noise and music, not MUSAN's speech), so it sits
in ``noise/``. Coloured noise has a power spectral density proportional to ``f^-beta``: beta = 0 (white),
1 (pink), 2 (brown), made by shaping the spectrum of white Gaussian noise, ``X(f) * f^(-beta / 2)``.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same arguments write the same bytes. The
tree is built in a temporary directory beside ``out_dir`` and renamed into place when complete.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = [
    "COLOURS",
    "RATE",
    "NoiseSetSizes",
    "babble",
    "coloured_noise",
    "make_noise_set",
    "synthetic_music",
]

RATE = 16000
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
TARGET_RMS = 0.1
NOISE_SECONDS = (4.0, 16.0)
MUSIC_SECONDS = (6.0, 14.0)
BABBLE_TALKERS = (3, 6)
_CANDIDATE_CUTS = 500
# a major key's triads (I, ii, IV, V, vi) as semitone offsets of root, third and fifth
_TRIADS = ((0, 4, 7), (2, 5, 9), (5, 9, 12), (7, 11, 14), (9, 12, 16))


@dataclass(frozen=True)
class NoiseSetSizes:
    """How many files of each kind :func:`make_noise_set` writes."""

    num_noise: int = 12
    num_music: int = 8
    num_babble: int = 8

    def check(self) -> None:
        """``ValueError`` naming the count that is negative, or when all are zero."""
        for name in ("num_noise", "num_music", "num_babble"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
        if self.num_noise + self.num_music + self.num_babble == 0:
            raise ValueError("num_noise + num_music + num_babble must be > 0; ask for at least one file.")


def _to_rms(x: np.ndarray, rms: float = TARGET_RMS) -> np.ndarray:
    return np.clip(x * (rms / max(float(np.sqrt(np.mean(x**2))), 1e-12)), -1.0, 1.0)


def coloured_noise(rng: np.random.Generator, num_samples: int, beta: float, rate: int = RATE) -> np.ndarray:
    """``(num_samples,)`` float noise whose power spectral density is proportional to ``f^-beta`` (no DC).

    The rFFT of white Gaussian noise is scaled by ``f^(-beta/2)`` and transformed back; RMS :data:`TARGET_RMS`.
    """
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples, 1.0 / rate)
    scale = np.zeros_like(freqs)
    scale[1:] = freqs[1:] ** (-beta / 2.0)
    return _to_rms(np.fft.irfft(spectrum * scale, num_samples))


def _note(freq: float, seconds: float, rate: int) -> np.ndarray:
    """A harmonic tone (partials k = 1..4 at 1/k^1.5) under an attack-decay-sustain-release envelope."""
    t = np.arange(round(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * k * freq * t) / k**1.5 for k in range(1, 5) if k * freq < rate / 2)
    attack, decay, release, sustain = 0.02, 0.1, 0.15, 0.6
    knots = [0.0, attack, attack + decay, max(seconds - release, attack + decay), seconds]
    return tone * np.interp(t, knots, [0.0, 1.0, sustain, sustain, 0.0])


def synthetic_music(rng: np.random.Generator, seconds: float, rate: int = RATE) -> np.ndarray:
    """``(round(seconds * rate),)`` float "music": a chord progression in a random major key, with a bass line.

    Each chord (0.4-1.0 s) is a triad of harmonic tones plus its root an octave down; RMS :data:`TARGET_RMS`.
    """
    out = np.zeros(round(seconds * rate))
    key = int(rng.integers(55, 67))  # MIDI note of the key's root
    chord_seconds = float(rng.uniform(0.4, 1.0))
    start = 0
    while start < len(out):
        triad = _TRIADS[int(rng.integers(len(_TRIADS)))]
        notes = [key + s for s in triad] + [key + triad[0] - 12]
        chord = sum(_note(440.0 * 2 ** ((n - 69) / 12), chord_seconds, rate) for n in notes)
        end = min(start + len(chord), len(out))
        out[start:end] += chord[: end - start]
        start = end
    return _to_rms(out)


def babble(utterances: Sequence[np.ndarray], gains: Sequence[float]) -> np.ndarray:
    """``sum_i gains[i] * utterances[i]``, each utterance starting at 0 and zero-padded to the longest."""
    out = np.zeros(max(len(u) for u in utterances))
    for utterance, gain in zip(utterances, gains):
        out[: len(utterance)] += gain * utterance
    return out


def _speech(speech_cuts: Path | str, needed: int) -> list:
    """Up to :data:`_CANDIDATE_CUTS` cuts of ``speech_cuts`` (read lazily), at least ``needed`` of them."""
    from hent_srt.data.manifest import read_cuts

    path = Path(speech_cuts)
    if not path.is_file():
        raise ValueError(f"speech_cuts: {path} does not exist; pass the mini corpus's train cuts (stage 0 writes them).")
    cuts = []
    for cut in read_cuts(path):
        if cut.has_recording:
            cuts.append(cut)
        if len(cuts) == _CANDIDATE_CUTS:
            break
    if len(cuts) < needed:
        raise ValueError(
            f"speech_cuts: {path} has {len(cuts)} cut(s) with audio; babble sums {needed} or more utterances, so "
            f"pass a manifest with at least {needed} (or --num-babble 0)."
        )
    return cuts


def _load_16k(cut) -> np.ndarray:
    if cut.sampling_rate != RATE:
        cut = cut.resample(RATE)
    return cut.load_audio()[0].astype(np.float64)


def _write_source(folder: Path, files: list[tuple[str, np.ndarray, str]]) -> None:
    """Write ``<folder>/<id>.wav`` for each (id, audio, annotation) and the folder's ANNOTATIONS file."""
    folder.mkdir(parents=True, exist_ok=True)
    for file_id, audio, _ in files:
        sf.write(str(folder / f"{file_id}.wav"), audio, RATE, subtype="PCM_16")
    (folder / "ANNOTATIONS").write_text("".join(f"{i} {note}\n" for i, _, note in files), encoding="utf-8")


def _seconds(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(rng.uniform(*bounds)), 2)


def make_noise_set(
    out_dir: Path | str,
    speech_cuts: Path | str | None = None,
    sizes: NoiseSetSizes = NoiseSetSizes(),
    seed: int = 0,
) -> Path:
    """Write the noise set of the module docstring into ``out_dir`` (new or empty); return ``out_dir``.

    ``speech_cuts`` (a lhotse CutSet with audio, e.g. the mini corpus's train cuts) is needed when
    ``sizes.num_babble > 0``. Raises ``ValueError`` for bad arguments or a non-empty ``out_dir``.
    """
    sizes.check()
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"out_dir: {out_dir} exists and is not an empty directory; remove it or pass a new one.")
    if sizes.num_babble and speech_cuts is None:
        raise ValueError("speech_cuts is needed for babble; pass the mini corpus's train cuts (or num_babble=0).")
    cuts = _speech(speech_cuts, BABBLE_TALKERS[0]) if sizes.num_babble else []
    rng = np.random.default_rng(seed)
    colours = list(COLOURS)
    noise = []
    for i in range(sizes.num_noise):
        colour = colours[i % len(colours)]
        audio = coloured_noise(rng, round(_seconds(rng, NOISE_SECONDS) * RATE), COLOURS[colour])
        noise.append((f"noise-coloured-{i:04d}", audio, colour))
    music = [
        (f"music-synthetic-{i:04d}", synthetic_music(rng, _seconds(rng, MUSIC_SECONDS)), "Synthetic N hent-srt")
        for i in range(sizes.num_music)
    ]
    babbles = []
    for i in range(sizes.num_babble):
        num_talkers = int(rng.integers(BABBLE_TALKERS[0], min(BABBLE_TALKERS[1], len(cuts)) + 1))
        talkers = rng.choice(len(cuts), size=num_talkers, replace=False)
        gains = np.round(rng.uniform(0.5, 1.0, size=len(talkers)), 3)
        mix = babble([_load_16k(cuts[t]) for t in talkers], gains)
        scale = TARGET_RMS / max(float(np.sqrt(np.mean(mix**2))), 1e-12)
        note = "babble " + " ".join(f"{cuts[t].id}:{g * scale:.6g}" for t, g in zip(talkers, gains))
        babbles.append((f"noise-babble-{i:04d}", np.clip(mix * scale, -1.0, 1.0), note))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    temp.mkdir()
    try:
        for folder, files in (("noise/coloured", noise), ("noise/babble", babbles), ("music/synthetic", music)):
            if files:
                _write_source(temp / folder, files)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(temp, out_dir)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return out_dir
