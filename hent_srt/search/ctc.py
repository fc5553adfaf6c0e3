"""Greedy (best-path) CTC decoding of a CTC head's output.

For one utterance with log-probabilities ``log_probs[t, v]`` over ``T`` frames, the best path takes the most
probable symbol at every frame and the hypothesis is that path with repeated symbols merged, then blanks removed:

    π_t = argmax_v log_probs[t, v]        (t < T; ties → the smaller id)
    ŷ = B(π),   B: merge runs of equal symbols, drop ``blank_id``

Frames are independent under CTC, so π is also the single most probable alignment, and ŷ is its label sequence
(not always the most probable label sequence, which sums over alignments).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ctc_greedy_search"]


def ctc_greedy_search(log_probs: Tensor, lens: Tensor, blank_id: int = 0) -> list[list[int]]:
    """Best-path CTC hypotheses (module docstring) of a batch.

    ``log_probs``: (B, T, V) frame scores (log-probabilities, or any scores whose argmax is the frame's symbol);
    ``lens``: (B,) valid frames per utterance (frames beyond are padding); returns B token-id lists."""
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (B, T, V), got shape {tuple(log_probs.shape)}")
    if lens.dim() != 1 or lens.numel() != log_probs.size(0):
        raise ValueError(f"lens must be (B,) with B = {log_probs.size(0)}, got shape {tuple(lens.shape)}")
    if not 0 <= blank_id < log_probs.size(2):
        raise ValueError(f"blank_id {blank_id} is outside the vocabulary of size {log_probs.size(2)}")
    if bool((lens < 0).any()) or bool((lens > log_probs.size(1)).any()):
        raise ValueError(f"lens must lie in [0, {log_probs.size(1)}], got {lens.tolist()}")
    best = log_probs.argmax(dim=-1)  # (B, T); torch.argmax returns the first maximal index
    changed = torch.ones_like(best, dtype=torch.bool)
    changed[:, 1:] = best[:, 1:] != best[:, :-1]
    keep = changed & (best != blank_id)
    out = []
    for b, n in enumerate(lens.tolist()):
        row = best[b, :n]
        out.append(row[keep[b, :n]].tolist())
    return out
