"""Speech for the synthetic corpus: speakers, eSpeak NG rendering, channel simulation and FLAC output.

A speaker is an eSpeak voice variant (``+m1``..``+m7``, ``+f1``..``+f4``) with its own speaking rate and
pitch; each utterance jitters both. Rendering (``render``):

    x = espeak(text) / 32768                         22 050 Hz
    wideband:  y = resample(x, 16000)                 (polyphase, scipy.signal.resample_poly)
    telephone: y = bandpass_300_3400(resample(x, 8000)) + n,  n ~ N(0, (rms(y) 10^(-snr/20))^2)
    y = g * y / max|y|,  g ~ U(0.3, 0.9)  → int16 FLAC

eSpeak carries state from one utterance to the next (its pitch-flutter phase), so audio is made in fixed
chunks (``CHUNK_SIZE`` utterances, in corpus order), each starting from a freshly initialised engine (a
worker initialises eSpeak once and forks a child per chunk): the result depends only on the jobs, not on
the number of workers or on scheduling.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import pickle
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hent_srt.fileio import atomic_path

__all__ = ["CHUNK_SIZE", "AudioJob", "Speaker", "make_speakers", "render", "shutdown_workers", "synthesize"]

VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
ESPEAK_RATE = 22050
WIDEBAND_RATE = 16000
TELEPHONE_RATE = 8000
CHUNK_SIZE = 48


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: eSpeak voice variant, base rate (words per minute) and base pitch (0..100)."""

    id: str
    variant: str
    rate: int
    pitch: int


@dataclass(frozen=True)
class AudioJob:
    """One utterance to speak and write to ``path`` (FLAC)."""

    path: str
    text: str
    voice: str
    rate: int
    pitch: int
    seed: int
    telephone: bool


def make_speakers(prefix: str, seed: int, num_speakers: int = 24) -> list[Speaker]:
    """``num_speakers`` seeded speakers with ids ``<prefix>_spk00``...; voice variants cycle over ``VARIANTS``."""
    if num_speakers < 1:
        raise ValueError(f"num_speakers must be >= 1, got {num_speakers}.")
    rng = random.Random(f"hent-srt-synth/speakers/{prefix}/{seed}")
    return [
        Speaker(
            f"{prefix}_spk{k:02d}", VARIANTS[k % len(VARIANTS)], rng.randint(135, 195), rng.randint(25, 75)
        )
        for k in range(num_speakers)
    ]


def _bandpass(samples: np.ndarray, rate: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=rate, output="sos")
    return sosfilt(sos, samples)


def render(job: AudioJob, samples: np.ndarray) -> tuple[np.ndarray, int]:
    """eSpeak int16 samples ``(N,)`` at 22 050 Hz → int16 samples ``(M,)`` of the channel, and its rate."""
    from scipy.signal import resample_poly

    rng = np.random.default_rng(job.seed)
    x = samples.astype(np.float64) / 32768.0
    if job.telephone:
        rate = TELEPHONE_RATE
        y = _bandpass(resample_poly(x, 160, 441), rate)
        snr_db = rng.uniform(25.0, 35.0)
        noise_std = np.sqrt(np.mean(y**2) + 1e-12) * 10 ** (-snr_db / 20)
        y = y + rng.normal(0.0, noise_std, size=y.shape)
    else:
        rate = WIDEBAND_RATE
        y = resample_poly(x, 320, 441)
    peak = np.max(np.abs(y))
    if peak > 0:
        y = y * (rng.uniform(0.3, 0.9) / peak)
    return np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16), rate


def _write_flac(path: str, samples: np.ndarray, rate: int) -> None:
    import soundfile

    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), samples, rate, format="FLAC", subtype="PCM_16")


def _synthesize_chunk(jobs: Sequence[AudioJob]) -> list[tuple[int, int]]:
    """Speak and write every job; returns ``(num_samples, rate)`` per job.

    Runs in a process whose eSpeak engine has been initialised but has not spoken yet (a forked child of a
    worker, or a worker that serves a single chunk).
    """
    from hent_srt.data.corpora.espeak import get_espeak

    engine = get_espeak()
    out = []
    for job in jobs:
        raw = engine.synth(job.text, job.voice, rate=job.rate, pitch=job.pitch, seed=job.seed % (2**31))
        samples, rate = render(job, raw)
        if samples.size == 0:
            raise RuntimeError(f"eSpeak NG produced no audio for {job.text!r} (voice {job.voice}).")
        _write_flac(job.path, samples, rate)
        out.append((int(samples.size), rate))
    return out


def _synthesize_chunk_isolated(jobs: Sequence[AudioJob]) -> list[tuple[int, int]]:
    """``_synthesize_chunk`` in a forked child of this worker, so that every chunk starts from the state the
    worker's engine had right after initialisation; the result comes back through a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            payload = pickle.dumps(("ok", _synthesize_chunk(jobs)))
        except Exception as err:  # noqa: BLE001 - the parent re-raises it
            payload = pickle.dumps(("error", f"{type(err).__name__}: {err}"))
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError("a speech-synthesis process died without a result (out of memory?).")
    kind, value = pickle.loads(payload)
    if kind == "error":
        raise RuntimeError(f"speech synthesis failed: {value}")
    return value


def _warm_up() -> None:
    """Pool initialiser: import the audio stack and initialise eSpeak once per worker (it never speaks)."""
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    from hent_srt.data.corpora.espeak import get_espeak

    get_espeak()


_POOLS: dict[int, multiprocessing.pool.Pool] = {}


def _worker_pool(num_workers: int) -> multiprocessing.pool.Pool:
    """The process-wide pool of ``num_workers`` workers, started on first use and kept for later calls."""
    if num_workers not in _POOLS:
        _POOLS[num_workers] = multiprocessing.get_context("spawn").Pool(num_workers, initializer=_warm_up)
    return _POOLS[num_workers]


def shutdown_workers() -> None:
    """Stop the worker pools kept by ``synthesize`` (they also stop when the interpreter exits)."""
    while _POOLS:
        _, pool = _POOLS.popitem()
        pool.close()
        pool.join()


def synthesize(jobs: Sequence[AudioJob], num_jobs: int, progress: bool = True) -> list[tuple[int, int]]:
    """Speak all ``jobs`` with ``num_jobs`` worker processes; returns ``(num_samples, rate)`` per job, in order.

    Workers are started with "spawn" (fresh interpreters: none inherits a used eSpeak engine), initialise
    eSpeak once and run each chunk in a forked child; they are kept for later calls (``shutdown_workers``).
    Where ``os.fork`` does not exist, each chunk gets a new worker instead.
    """
    if num_jobs < 1:
        raise ValueError(f"num_jobs must be >= 1, got {num_jobs}.")
    from tqdm import tqdm

    chunks = [list(jobs[i : i + CHUNK_SIZE]) for i in range(0, len(jobs), CHUNK_SIZE)]
    results: list[tuple[int, int]] = []
    if not chunks:
        return results
    with tqdm(total=len(jobs), desc="synth", unit="utt", disable=not progress) as bar:
        if hasattr(os, "fork"):
            for chunk_result in _worker_pool(num_jobs).imap(_synthesize_chunk_isolated, chunks):
                results.extend(chunk_result)
                bar.update(len(chunk_result))
            return results
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(num_jobs, len(chunks)), initializer=_warm_up, maxtasksperchild=1) as pool:
            for chunk_result in pool.imap(_synthesize_chunk, chunks):
                results.extend(chunk_result)
                bar.update(len(chunk_result))
    return results
