"""A minimal ctypes driver for the eSpeak NG speech synthesiser shipped by the PyPI package ``espeakng-loader``.

The package carries ``libespeak-ng`` and its ``espeak-ng-data`` directory, so no system package is needed.
The library is driven in synchronous mode: ``espeak_Synth`` returns once the whole text is spoken, and the
samples arrive through the synthesis callback, which appends them to a buffer. eSpeak keeps global state,
so there is one ``Espeak`` object per process (``get_espeak``).

Output: mono int16 samples at ``Espeak.sample_rate`` (22 050 Hz for the bundled voices).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

__all__ = ["Espeak", "EspeakError", "get_espeak"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    """eSpeak NG could not be loaded or refused a request."""


def _library_paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as err:
        raise EspeakError(
            "the Python package 'espeakng-loader' is not installed; install it with "
            "`pip install espeakng-loader` (or `pip install -e .[synth]`)."
        ) from err
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class Espeak:
    """One initialised eSpeak NG engine; ``synth`` turns text into int16 samples."""

    def __init__(self) -> None:
        lib_path, data_path = _library_paths()
        self._lib = ctypes.CDLL(lib_path)
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.restype = ctypes.c_int
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.restype = ctypes.c_int
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_ng_SetRandSeed.restype = None
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._lib.espeak_SetSynthCallback.restype = None
        self._lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        data_root = str(Path(data_path).parent).encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_root, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed (returned {rate}) with data at {data_path}.")
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        self._callback = _SynthCallback(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples: int, events) -> int:
        if num_samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        return 0

    def synth(
        self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50, seed: int = 0
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` (e.g. ``"es+m3"``); returns int16 samples, shape ``(N,)``.

        ``rate`` is in words per minute (80..450), ``pitch`` and ``pitch_range`` are on eSpeak's 0..100 scale.
        ``seed`` seeds eSpeak's noise generator (otherwise seeded from the clock at initialisation). The
        output also depends on state eSpeak carries from one utterance to the next (its pitch-flutter
        phase), so the same text is reproduced exactly only by the same sequence of calls in a freshly
        initialised process.
        """
        if not text.strip():
            raise ValueError("text must be non-empty; pass the sentence to speak.")
        if not 80 <= rate <= 450:
            raise ValueError(f"rate must be in 80..450 words per minute, got {rate}.")
        for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be in 0..100, got {value}.")
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(
                f"eSpeak NG has no voice {voice!r}; use a language code such as 'es' or 'es+m3'."
            )
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
            self._lib.espeak_SetParameter(param, value, 0)
        self._lib.espeak_ng_SetRandSeed(seed)
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)
        self._chunks = []
        status = self._lib.espeak_Synth(buffer, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise EspeakError(f"espeak_Synth failed with status {status} for text {text!r}.")
        samples = np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()
        self._chunks = []
        return samples


_ENGINE: Espeak | None = None


def get_espeak() -> Espeak:
    """The process-wide eSpeak NG engine, initialised on first use."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    return _ENGINE
