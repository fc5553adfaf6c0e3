"""Streaming latency of emitted tokens: first-token delay and Average Lagging (Ma et al., ACL 2019).

Delays are seconds from the start of the utterance to the end of the audio chunk after which a token was emitted
(see :mod:`hent_srt.decode.streaming`), one per emitted token, non-decreasing.

- First-token delay: ``d_1``, the delay of the first emitted token (undefined without tokens).
- Average Lagging, with source length ``|x|`` (seconds), target length ``|y|`` (the number of emitted tokens, as
  in Ma et al.; or a reference length), rate ``γ = |y| / |x|`` and cut-off ``τ = min{i : d_i >= |x|}``
  (``τ = |y|`` when no delay reaches ``|x|``)::

      AL = (1 / τ) · Σ_{i=1..τ} ( d_i - (i - 1) / γ )

  i.e. the mean lag behind an ideal policy that emits token i after ``(i - 1) / γ`` seconds of audio. As in
  SimulEval, a first delay beyond ``|x|`` gives ``AL = d_1``. A wait-k policy on equal-length text (``d_i =
  min(k + i - 1, |x|)``, ``|y| = |x|``) has AL = k.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def _check_delays(delays: Sequence[float]) -> list[float]:
    values = [float(d) for d in delays]
    if any(not math.isfinite(d) or d < 0 for d in values):
        raise ValueError(f"delays must be finite and >= 0 seconds, got {values[:5]}...")
    if any(b < a for a, b in zip(values, values[1:])):
        raise ValueError("delays must be non-decreasing (tokens are emitted in order)")
    return values


def first_token_delay(delays: Sequence[float]) -> float | None:
    """Delay of the first emitted token in seconds; None when no token was emitted."""
    values = _check_delays(delays)
    return values[0] if values else None


def average_lagging(delays: Sequence[float], source_length: float, target_length: int | None = None) -> float | None:
    """Average Lagging (module docstring) of ``delays`` (seconds) for ``source_length`` seconds of audio.

    ``target_length`` defaults to ``len(delays)``; pass the reference length for the reference-based variant.
    Returns None when no token was emitted."""
    values = _check_delays(delays)
    if not source_length > 0 or not math.isfinite(source_length):
        raise ValueError(f"source_length must be a positive number of seconds, got {source_length}")
    if not values:
        return None
    num_target = len(values) if target_length is None else target_length
    if isinstance(num_target, bool) or not isinstance(num_target, int) or num_target < 1:
        raise ValueError(f"target_length must be an integer >= 1, got {target_length!r}")
    if values[0] > source_length:
        return values[0]
    seconds_per_token = source_length / num_target
    total = 0.0
    tau = 0
    for i, d in enumerate(values):
        total += d - i * seconds_per_token
        tau = i + 1
        if d >= source_length:
            break
    return total / tau


@dataclass
class UtteranceLatency:
    """Latency of one utterance: ``first_token_delay`` and ``average_lagging`` (None without tokens)."""

    first_token_delay: float | None
    average_lagging: float | None
    num_tokens: int
    source_seconds: float


def utterance_latency(delays: Sequence[float], source_seconds: float) -> UtteranceLatency:
    """Both metrics of one utterance."""
    return UtteranceLatency(first_token_delay(delays), average_lagging(delays, source_seconds), len(delays),
                            float(source_seconds))


def summarize_latency(per_utterance: Mapping[str, UtteranceLatency]) -> dict[str, float | int | None]:
    """Means over utterances that emitted tokens: ``first_token_delay`` and ``average_lagging`` (seconds), with
    ``num_utterances`` and ``num_without_tokens``."""
    with_tokens = [u for u in per_utterance.values() if u.num_tokens > 0]
    n = len(with_tokens)
    return {
        "first_token_delay": sum(u.first_token_delay for u in with_tokens) / n if n else None,
        "average_lagging": sum(u.average_lagging for u in with_tokens) / n if n else None,
        "num_utterances": len(per_utterance),
        "num_without_tokens": len(per_utterance) - n,
    }
