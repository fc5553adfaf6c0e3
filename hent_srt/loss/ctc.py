"""CTC on encoder outputs and the CR-CTC consistency term.

- ``ctc_loss``: connectionist temporal classification (Graves et al. 2006) through
  ``torch.nn.functional.ctc_loss`` with per-utterance losses ``-log sum_{a in B^-1(y)} prod_t p_t(a_t)``;
  utterances whose loss is not finite (no alignment fits in the frames, or non-finite inputs) are dropped from
  the sum and counted, instead of being zeroed silently.
- ``cr_ctc_consistency``: consistency regularisation between the CTC posteriors of two augmented views of the
  same utterances (Yao et al. 2024, "CR-CTC", arXiv 2410.05101)::

      L_cr = 0.5 * sum_b sum_{t < len_b} [ KL(sg(p_b,t^B) || p_b,t^A) + KL(sg(p_b,t^A) || p_b,t^B) ]

  with ``KL(p || q) = sum_v p_v (log p_v - log q_v)`` and ``sg`` the stop-gradient: each view is pulled toward the
  other view's detached distribution. Padding frames (t >= len_b) are masked out.

Shapes: log-probs (B, T, V) batch first, log-softmax over V; lengths (B,) int64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["cr_ctc_consistency", "ctc_loss"]


def _check_log_probs(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (B, T, V) tensor, got {shape}")
    if not x.dtype.is_floating_point:
        raise ValueError(f"{name} must be floating point log-probs, got {x.dtype}")


def _check_lengths(name: str, lengths: Tensor, B: int, maximum: int) -> None:
    if not isinstance(lengths, Tensor) or lengths.shape != (B,) or lengths.dtype != torch.int64:
        desc = f"{tuple(lengths.shape)} {lengths.dtype}" if isinstance(lengths, Tensor) else type(lengths).__name__
        raise ValueError(f"{name} must be an int64 tensor of shape (B,) = ({B},), got {desc}")
    if B and (int(lengths.min()) < 0 or int(lengths.max()) > maximum):
        raise ValueError(f"{name} must lie in [0, {maximum}], got [{int(lengths.min())}, {int(lengths.max())}]")


def ctc_loss(
    log_probs: Tensor,
    log_prob_lens: Tensor,
    targets: Tensor,
    target_lens: Tensor,
    blank: int = 0,
) -> tuple[Tensor, int]:
    """Summed CTC loss over the utterances whose loss is finite, and how many were dropped.

    Args:
      log_probs: (B, T, V) log-softmax outputs.
      log_prob_lens: (B,) int64 valid frames per utterance, each <= T.
      targets: (B, L) int64 padded label ids, each valid one in [0, V) and != blank.
      target_lens: (B,) int64 valid labels per utterance, each <= L.
      blank: blank id in [0, V).

    Returns:
      (loss, dropped): loss is the scalar sum over kept utterances (0 when none is kept, still differentiable),
      dropped the number of utterances with a non-finite loss.
    """
    _check_log_probs("log_probs", log_probs)
    B, T, V = log_probs.shape
    if isinstance(blank, bool) or not isinstance(blank, int) or not 0 <= blank < V:
        raise ValueError(f"blank must be an int in [0, V) = [0, {V}), got {blank!r}")
    if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.shape[0] != B:
        shape = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"targets must be a (B, L) tensor with B = {B}, got {shape}")
    if targets.dtype != torch.int64:
        raise ValueError(f"targets must be int64, got {targets.dtype}")
    _check_lengths("log_prob_lens", log_prob_lens, B, T)
    _check_lengths("target_lens", target_lens, B, targets.shape[1])
    valid = torch.arange(targets.shape[1], device=targets.device)[None, :] < target_lens[:, None]
    used = targets[valid]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= V or bool((used == blank).any())):
        raise ValueError(f"targets must lie in [0, V) = [0, {V}) and never equal blank = {blank}")
    per_utt = _per_utterance(log_probs, log_prob_lens, targets, target_lens, blank)
    finite = torch.isfinite(per_utt)
    dropped = int((~finite).sum())
    if dropped == 0:
        return per_utt.sum(), 0
    # torch's backward gives NaN gradients for an infinite utterance even when its loss is masked out, so the
    # kept utterances are recomputed on their own.
    keep = finite.nonzero().squeeze(1)
    kept = _per_utterance(log_probs[keep], log_prob_lens[keep], targets[keep], target_lens[keep], blank)
    return kept.sum(), dropped


def _per_utterance(log_probs: Tensor, log_prob_lens: Tensor, targets: Tensor, target_lens: Tensor,
                   blank: int) -> Tensor:
    """(B,) CTC losses, +inf where no alignment exists (torch's ctc_loss, zero_infinity=False)."""
    return F.ctc_loss(log_probs.transpose(0, 1), targets, log_prob_lens, target_lens,
                      blank=blank, reduction="none", zero_infinity=False)


def cr_ctc_consistency(log_probs_a: Tensor, log_probs_b: Tensor, lens: Tensor) -> Tensor:
    """CR-CTC consistency loss between two views, summed over valid frames (scalar).

    Args:
      log_probs_a, log_probs_b: (B, T, V) log-softmax CTC outputs of the two views of the same utterances.
      lens: (B,) int64 valid frames per utterance, each <= T.

    Returns:
      0.5 * sum_{b, t < lens_b} [KL(sg(exp b) || exp a) + KL(sg(exp a) || exp b)]; the gradient reaches each view
      only through its own (non-detached) argument.
    """
    _check_log_probs("log_probs_a", log_probs_a)
    _check_log_probs("log_probs_b", log_probs_b)
    if log_probs_a.shape != log_probs_b.shape:
        raise ValueError(f"log_probs_b must have log_probs_a's shape {tuple(log_probs_a.shape)}, "
                         f"got {tuple(log_probs_b.shape)}")
    B, T, _ = log_probs_a.shape
    _check_lengths("lens", lens, B, T)
    kl_ab = F.kl_div(log_probs_a, log_probs_b.detach(), reduction="none", log_target=True).sum(dim=2)
    kl_ba = F.kl_div(log_probs_b, log_probs_a.detach(), reduction="none", log_target=True).sum(dim=2)
    mask = torch.arange(T, device=lens.device)[None, :] < lens[:, None]
    return 0.5 * torch.where(mask, kl_ab + kl_ba, torch.zeros_like(kl_ab)).sum()
