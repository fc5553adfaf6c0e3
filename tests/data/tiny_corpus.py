"""A tiny generated speech-translation corpus for the data-layer tests (sine tones + noise, no eSpeak)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, Recording

from hent_srt.data.schema import make_supervision

SENTENCES = [
    ("es", "la casa de mi hermano", "my brother's house"),
    ("es", "el perro negro come pan", "the black dog eats bread"),
    ("es", "ella me lo dio ayer", "she gave it to me yesterday"),
    ("ar", "كتب الولد الرسالة", "the boy wrote the letter"),
    ("ar", "البيت الكبير جميل", "the big house is beautiful"),
    ("ar", "باب المدرسة مفتوح", "the school door is open"),
    ("zh", "我买的书很好", "the book that i bought is good"),
    ("zh", "他昨天在家看书", "he read at home yesterday"),
    ("zh", "三本书在桌子上", "three books are on the table"),
    ("es", "mi hermana tiene una casa grande", "my sister has a big house"),
]


def tone_frequency(index: int) -> float:
    """Frequency in Hz of utterance ``index``'s sine tone (below 3.4 kHz, so 8 kHz audio keeps it)."""
    return 300.0 + 150.0 * index


def duration_of(index: int) -> float:
    """Duration of utterance ``index`` in seconds: a multiple of 10 ms, so T = 100 * duration frames."""
    return round(0.5 + 0.05 * index, 2)


def write_tone(path: Path, freq: float, duration: float, sampling_rate: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration * sampling_rate)) / sampling_rate
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.003 * rng.standard_normal(t.shape)
    sf.write(path, wave.astype(np.float32), sampling_rate)


def make_cuts(audio_dir: Path, num: int = 20, rates: tuple[int, ...] = (16000, 8000)) -> CutSet:
    """``num`` single-utterance cuts in the schema; utterance i is a tone at rate ``rates[i % len(rates)]``."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    cuts = []
    for i in range(num):
        lang, text, translation = SENTENCES[i % len(SENTENCES)]
        path = audio_dir / f"utt{i:02d}.flac"
        write_tone(path, tone_frequency(i), duration_of(i), rates[i % len(rates)], seed=i)
        rec = Recording.from_file(path, recording_id=f"rec{i:02d}")
        cut = rec.to_cut()
        cut.id = f"utt{i:02d}"
        cut.supervisions = [
            make_supervision(
                f"utt{i:02d}", rec.id, 0.0, rec.duration, 0, text, lang, translation, speaker=f"spk{i % 3}"
            )
        ]
        cuts.append(cut)
    return CutSet.from_cuts(cuts)


def write_cuts(tmp_dir: Path, num: int = 20, rates: tuple[int, ...] = (16000, 8000)) -> Path:
    """Generate the corpus under ``tmp_dir`` and return the path of its cut manifest."""
    path = tmp_dir / "cuts_raw.jsonl.gz"
    make_cuts(tmp_dir / "audio", num, rates).to_file(path)
    return path
