"""The ASR blank penalty chosen on a dev set: the grid penalty with the lowest dev error rate.

A transducer's greedy or beam search subtracts the blank penalty ``P`` from the blank logit at every frame,

    logit'(blank) = logit(blank) - P,

so a larger ``P`` emits more tokens (fewer deletions, eventually more insertions). ``hent-srt decode
--tune-blank-penalty-asr-on CUTS_DEV`` decodes the dev manifest with the ASR head at every penalty of the grid (one
encoder pass per batch), scores each with the decode's ``--unit`` and ``--src-normalizer``, and decodes the test
sets at

    P* = argmin_P  ER_dev(P)        (ties: the smallest P),

which it also writes, with every grid point's dev error rate, to ``EXP_DIR/asr-blank-penalty-TAG.json`` (TAG the
decoding setting without the ASR penalty) and to each summary's ``asr.blank_penalty_tuning``. The test set is never
looked at, so the test error rate at ``P*`` is an honest estimate; the ST blank penalty is tuned separately (a sweep,
or ``--blank-penalty adaptive``), with the ASR hypotheses at ``P*``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hent_srt.fileio import write_text_atomic

__all__ = ["DEFAULT_ASR_GRID", "AsrPenaltyChoice", "choose_asr_penalty", "choice_file_name", "write_choice"]

DEFAULT_ASR_GRID: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def choose_asr_penalty(error_rates: Mapping[float, float]) -> float:
    """``argmin_P error_rates[P]``, the smallest ``P`` among equal rates; ValueError for an empty or non-finite map."""
    if not error_rates:
        raise ValueError("choosing the ASR blank penalty needs at least one grid point")
    bad = {p: r for p, r in error_rates.items() if not (math.isfinite(p) and math.isfinite(r))}
    if bad:
        raise ValueError(f"ASR blank penalty grid has non-finite penalties or error rates: {bad}")
    return min(error_rates, key=lambda p: (error_rates[p], p))


@dataclass(frozen=True)
class AsrPenaltyChoice:
    """The dev-tuned ASR blank penalty and what it was chosen from.

    ``error_rates[P]`` and ``deletions[P]``: the dev error rate (%, ``metric`` WER or CER) and deletion count at
    each grid penalty ``P``; ``penalty``: :func:`choose_asr_penalty` of ``error_rates``."""

    dev_set: str
    metric: str
    error_rates: dict[float, float]
    deletions: dict[float, int]
    penalty: float

    @classmethod
    def from_scores(cls, dev_set: str, metric: str, error_rates: Mapping[float, float],
                    deletions: Mapping[float, int]) -> AsrPenaltyChoice:
        """The choice over the scored grid (:func:`choose_asr_penalty`)."""
        return cls(dev_set, metric, dict(sorted(error_rates.items())), dict(sorted(deletions.items())),
                   choose_asr_penalty(error_rates))

    def as_dict(self) -> dict:
        """Plain data for JSON (penalties as ``%g`` strings, the keys JSON allows)."""
        return {"dev_set": self.dev_set, "metric": self.metric, "blank_penalty": self.penalty,
                "dev_error_rate": {f"{p:g}": r for p, r in self.error_rates.items()},
                "dev_deletions": {f"{p:g}": d for p, d in self.deletions.items()}}


def choice_file_name(tag: str) -> str:
    """``asr-blank-penalty-TAG.json``, TAG the decoding setting the penalty was tuned in."""
    return f"asr-blank-penalty-{tag}.json"


def write_choice(path: Path, choice: AsrPenaltyChoice, setting_tag: str) -> None:
    """Write ``choice`` (and the setting it was tuned in) to ``path`` atomically."""
    write_text_atomic(path, json.dumps({**choice.as_dict(), "setting_tag": setting_tag}, indent=2) + "\n")
