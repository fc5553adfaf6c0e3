"""The transducer step interface: what every search needs from a task head, whatever runs it.

A search (:mod:`hent_srt.search.greedy`, :mod:`hent_srt.search.beam`) works on the head's encoder output
already passed through the joiner's encoder projection, enc (N, T, J), and calls a :class:`TransducerStep`:

- ``blank_id``, ``context_size``;
- ``predict(contexts (N, context_size) int64) -> (N, J)``: the predictor output for the last
  ``context_size`` tokens of each hypothesis, passed through the joiner's decoder projection; a negative id
  means "no token";
- ``join(enc (N, J), dec (N, J)) -> (N, V)``: logits = W_out · tanh(enc + dec) + b_out.

Implementations: :class:`hent_srt.model.hent.TaskHead` (the PyTorch model), and in
:mod:`hent_srt.decode.runtimes` the TorchScript and ONNX graphs of an export. Every hypothesis starts from
:func:`start_contexts`; the blank penalty is applied by :func:`apply_blank_penalty`.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor


class TransducerStep(Protocol):
    """One task head's predictor step and joiner (see the module docstring)."""

    blank_id: int
    context_size: int

    def predict(self, contexts: Tensor) -> Tensor:
        """contexts (N, context_size) int64 → projected predictor output (N, J)."""

    def join(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        """Projected encoder (N, J) and predictor (N, J) outputs → logits (N, V)."""


def start_context(context_size: int, blank_id: int) -> list[int]:
    """The context every hypothesis starts from: ``[-1] * (context_size - 1) + [blank_id]`` (the blank doubles
    as start-of-sequence; -1 is "no token", whose embedding is zero, as the training input's left padding)."""
    check_positive_int("context_size", context_size)
    return [-1] * (context_size - 1) + [blank_id]


def start_contexts(n: int, context_size: int, blank_id: int, device: torch.device | str = "cpu") -> Tensor:
    """(n, context_size) int64: :func:`start_context` for ``n`` hypotheses."""
    row = start_context(context_size, blank_id)
    return torch.tensor([row] * n, dtype=torch.int64, device=device).reshape(n, context_size)


def check_penalty(penalty: float, name: str = "blank_penalty") -> None:
    """Raise ValueError naming ``name`` unless ``penalty`` is a finite number."""
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty):
        raise ValueError(f"{name} must be a finite number, got {penalty!r}")


def check_positive_int(name: str, value: int) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def apply_blank_penalty(logits: Tensor, penalty: float, blank_id: int = 0) -> Tensor:
    """Return ``logits`` (..., V) with ``penalty`` subtracted from column ``blank_id`` (input left unchanged).

    logits'[..., blank_id] = logits[..., blank_id] - penalty; every other entry is copied. A positive penalty
    makes emitting tokens cheaper (HENT-SRT uses it against deletions in translation).
    """
    check_penalty(penalty)
    if logits.dim() < 1 or not -logits.size(-1) <= blank_id < logits.size(-1):
        raise ValueError(f"blank_id={blank_id} is not a column of logits with shape {tuple(logits.shape)}")
    if penalty == 0:
        return logits
    out = logits.clone()
    out[..., blank_id] -= penalty
    return out


def check_encoder_output(encoder_out: Tensor, encoder_out_lens: Tensor) -> None:
    """Validate a search input: encoder_out (B, T, J) and integer lengths (B,) within [0, T]."""
    if encoder_out.dim() != 3:
        raise ValueError(f"encoder_out must be (B, T, J), got shape {tuple(encoder_out.shape)}")
    if encoder_out_lens.dim() != 1 or encoder_out_lens.size(0) != encoder_out.size(0):
        raise ValueError(
            f"encoder_out_lens must have shape (B,) = ({encoder_out.size(0)},), got {tuple(encoder_out_lens.shape)}"
        )
    if encoder_out_lens.dtype.is_floating_point or encoder_out_lens.dtype == torch.bool:
        raise ValueError(f"encoder_out_lens must be an integer (int64) tensor, got dtype {encoder_out_lens.dtype}")
    if encoder_out_lens.numel() > 0:
        low, high = int(encoder_out_lens.min()), int(encoder_out_lens.max())
        if low < 0 or high > encoder_out.size(1):
            raise ValueError(
                f"encoder_out_lens must lie in [0, T={encoder_out.size(1)}], got values in [{low}, {high}]"
            )


def check_step(step: TransducerStep) -> None:
    """Raise ValueError unless ``step`` has the attributes of :class:`TransducerStep`."""
    for attribute in ("blank_id", "context_size", "predict", "join"):
        if not hasattr(step, attribute):
            raise ValueError(f"a transducer step must have '{attribute}' (see hent_srt.search.step)")
