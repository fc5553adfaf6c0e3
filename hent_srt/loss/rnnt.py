"""RNN-T losses: simple (additive joiner), smoothed, full (joiner logits) and pruned, with k2's API.

Names, argument order, defaults and semantics follow k2 (``k2/python/k2/rnnt_loss.py``; Kuang et al. 2022,
"Pruned RNN-T for fast, memory-efficient ASR training", arXiv 2206.13236), so icefall-style training code runs
unchanged. Every loss reduces the transducer to per-arc log-probabilities ``(px, py)`` of the lattice of
``hent_srt.loss.mutual_information`` and returns ``-score``.

Notation: ``B`` batch, ``T`` frames, ``S`` (padded) number of symbols, ``C`` vocabulary size including the
termination symbol (the blank, usually 0), ``R`` prune range.

- ``symbols`` (B, S) int64, padded with any id in [0, C); ``lm`` (B, S + 1, C), row s = predictor output after s
  symbols; ``am`` (B, T, C); ``logits`` (B, T, S + 1, C) full joiner output or (B, T, R, C) pruned.
- ``boundary`` (B, 4) int64 ``[s_begin, t_begin, s_end, t_end]``; training passes ``[0, 0, S_b, T_b]``.
  Default ``[0, 0, S, T]``.
- ``rnnt_type``:

  * ``"regular"``: a symbol keeps the frame. px (B, S, T + 1), py (B, S + 1, T);
    ``p[s, t] = logaddexp(p[s-1, t] + px[s-1, t], p[s, t-1] + py[s, t-1])``; ``px[b, :, t_end]`` is set to -inf
    (no symbol after the last frame), so every path ends with the blank of frame ``t_end - 1``.
  * ``"modified"``: a symbol also consumes the frame (at most one symbol per frame; needs T_b >= S_b).
    px (B, S, T); ``p[s, t] = logaddexp(p[s-1, t-1] + px[s-1, t-1], p[s, t-1] + py[s, t-1])``.
  * ``"constrained"``: the modified lattice where emitting symbol s+1 on frame t also pays the blank of the
    next context on that frame: ``px += py[:, 1:, :]``.

- Log-probs: ``px[b, s, t] = log P(symbols[b, s] | s, t)`` and ``py[b, s, t] = log P(blank | s, t)``, each the
  joiner output at (t, s) minus its log-normaliser over C.
- ``delay_penalty`` (> 0 only): ``px[b, s, t] += delay_penalty * ((T_b - 1) / 2 - t)`` rewards early emission.
- ``reduction``: ``"none"`` (B,) per-utterance ``-score``, ``"mean"`` (mean over the batch), ``"sum"``.
- ``return_grad``: also return ``(px_grad, py_grad)``, the arc occupancies ``d score / d (px, py)`` of the
  ``"none"`` loss, which ``get_rnnt_prune_ranges`` turns into prune ranges.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from hent_srt.loss.mutual_information import NonFiniteError, mutual_information_recursion

__all__ = [
    "do_rnnt_pruning",
    "get_rnnt_logprobs",
    "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned",
    "get_rnnt_logprobs_smoothed",
    "get_rnnt_prune_ranges",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
]

RNNT_TYPES = ("regular", "modified", "constrained")
REDUCTIONS = ("none", "mean", "sum")
_NEG_INF = float("-inf")

LossWithGrad = tuple[Tensor, tuple[Tensor, Tensor]]


# ----------------------------------------------------------------------------------------------------------------
# Input validation (cheap: a few host syncs per call, no full-size temporaries)
# ----------------------------------------------------------------------------------------------------------------


def _check_float(name: str, x: Tensor, ndim: int) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dims, got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}: compute the loss with autocast off")


def _check_finite(name: str, x: Tensor) -> None:
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise NonFiniteError(f"{name} contains NaN or inf: check the network outputs (learning rate, fp16 overflow)")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_symbols(symbols: Tensor, B: int, S: int, C: int, termination_symbol: int) -> None:
    if not isinstance(symbols, Tensor) or symbols.dtype != torch.int64:
        kind = symbols.dtype if isinstance(symbols, Tensor) else type(symbols).__name__
        raise ValueError(f"symbols must be an int64 tensor, got {kind}")
    if symbols.shape != (B, S):
        raise ValueError(f"symbols must have shape (B, S) = ({B}, {S}), got {tuple(symbols.shape)}")
    if symbols.numel():
        lo, hi = int(symbols.min()), int(symbols.max())
        if lo < 0 or hi >= C:
            raise ValueError(f"symbols must lie in [0, C) = [0, {C}), got values in [{lo}, {hi}]: pad with the blank id")
    if isinstance(termination_symbol, bool) or not isinstance(termination_symbol, int):
        raise ValueError(f"termination_symbol must be an int, got {type(termination_symbol).__name__}")
    if not 0 <= termination_symbol < C:
        raise ValueError(f"termination_symbol must lie in [0, C) = [0, {C}), got {termination_symbol}")


def _check_boundary(boundary: Tensor | None, B: int, S: int, T: int, rnnt_type: str) -> Tensor | None:
    """Validate boundary (B, 4) and, for modified/constrained, that every utterance has T_b >= S_b."""
    if boundary is None:
        if rnnt_type != "regular" and T < S:
            raise ValueError(f"rnnt_type={rnnt_type!r} emits at most one symbol per frame, so it needs T >= S, got "
                             f"T = {T} < S = {S}: use rnnt_type='regular' or pass boundary with the true lengths")
        return None
    if not isinstance(boundary, Tensor) or boundary.shape != (B, 4):
        shape = tuple(boundary.shape) if isinstance(boundary, Tensor) else type(boundary).__name__
        raise ValueError(f"boundary must be a (B, 4) = ({B}, 4) int64 tensor of [s_begin, t_begin, s_end, t_end], "
                         f"got {shape}")
    if boundary.dtype != torch.int64:
        raise ValueError(f"boundary must be int64, got {boundary.dtype}")
    rows = boundary.tolist()
    for b, (s0, t0, s1, t1) in enumerate(rows):
        if not (0 <= s0 <= s1 <= S and 0 <= t0 <= t1 <= T):
            raise ValueError(f"boundary[{b}] = {[s0, t0, s1, t1]} is outside the tensors: need "
                             f"0 <= s_begin <= s_end <= S = {S} and 0 <= t_begin <= t_end <= T = {T}")
        if rnnt_type != "regular" and t1 - t0 < s1 - s0:
            raise ValueError(f"boundary[{b}] = {[s0, t0, s1, t1]} has fewer frames than symbols, impossible for "
                             f"rnnt_type={rnnt_type!r}: use rnnt_type='regular' for this data")
    return boundary


def _check_loss_options(rnnt_type: str, delay_penalty: float, reduction: str | None) -> None:
    _check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    _check_choice("reduction", reduction, REDUCTIONS)
    if not delay_penalty >= 0.0:
        raise ValueError(f"delay_penalty must be >= 0, got {delay_penalty}")


# ----------------------------------------------------------------------------------------------------------------
# Shared steps
# ----------------------------------------------------------------------------------------------------------------


def _fix_for_boundary(px: Tensor, boundary: Tensor | None) -> Tensor:
    """Regular lattice: px[b, :, t_end_b] = -inf ("no symbol after the last frame"). px (B, S, T + 1)."""
    if boundary is None:
        return px
    B, S, _ = px.shape
    index = boundary[:, 3].reshape(B, 1, 1).expand(B, S, 1)
    return px.scatter(2, index, _NEG_INF)


def _append_neg_inf_column(px: Tensor) -> Tensor:
    """(B, S, T) -> (B, S, T + 1) with -inf in column T."""
    B, S, _ = px.shape
    return torch.cat((px, px.new_full((B, S, 1), _NEG_INF)), dim=2)


def _finish_logprobs(px: Tensor, py: Tensor, boundary: Tensor | None, rnnt_type: str) -> tuple[Tensor, Tensor]:
    """Regular: -inf at each utterance's t_end; constrained: px += py[:, 1:, :]."""
    if rnnt_type == "regular":
        px = _fix_for_boundary(px, boundary)
    elif rnnt_type == "constrained":
        px = px + py[:, 1:, :]
    return px, py


def _apply_delay_penalty(px: Tensor, boundary: Tensor | None, rnnt_type: str, delay_penalty: float) -> Tensor:
    """px[b, s, t] += delay_penalty * ((T_b - 1) / 2 - t) for every column t of px."""
    if delay_penalty <= 0.0:
        return px
    B, _, T0 = px.shape
    T = T0 - 1 if rnnt_type == "regular" else T0
    if boundary is None:
        offset = torch.full((B,), (T - 1) / 2, dtype=px.dtype, device=px.device)
    else:
        offset = (boundary[:, 3] - 1).to(px.dtype) / 2
    penalty = offset.reshape(B, 1, 1) - torch.arange(T0, device=px.device, dtype=px.dtype).reshape(1, 1, T0)
    return px + penalty * delay_penalty


def _reduce(negated: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return -negated
    if reduction == "mean":
        return -negated.mean()
    return -negated.sum()


def _loss(px: Tensor, py: Tensor, boundary: Tensor | None, rnnt_type: str, delay_penalty: float,
          reduction: str, return_grad: bool) -> Tensor | LossWithGrad:
    px = _apply_delay_penalty(px, boundary, rnnt_type, delay_penalty)
    out = mutual_information_recursion(px=px, py=py, boundary=boundary, return_grad=return_grad)
    if return_grad:
        scores, grads = out
        return _reduce(scores, reduction), grads
    return _reduce(out, reduction)


def _gather_symbol_column(x: Tensor, symbols: Tensor) -> Tensor:
    """x (B, T, C), symbols (B, S) -> (B, S, T) with out[b, s, t] = x[b, t, symbols[b, s]]."""
    B, T, _ = x.shape
    S = symbols.shape[1]
    return torch.gather(x, 2, symbols.reshape(B, 1, S).expand(B, T, S)).transpose(1, 2)


# ----------------------------------------------------------------------------------------------------------------
# Simple (additive joiner) and smoothed losses
# ----------------------------------------------------------------------------------------------------------------


def _check_lm_am(lm: Tensor, am: Tensor, symbols: Tensor, termination_symbol: int) -> tuple[int, int, int, int]:
    _check_float("lm", lm, 3)
    _check_float("am", am, 3)
    B, T, C = am.shape
    if lm.shape[0] != B or lm.shape[2] != C:
        raise ValueError(f"lm must have shape (B, S + 1, C) with B = {B}, C = {C} from am, got {tuple(lm.shape)}")
    if lm.dtype != am.dtype or lm.device != am.device:
        raise ValueError(f"lm and am must share dtype and device, got {lm.dtype}/{lm.device}, {am.dtype}/{am.device}")
    S = lm.shape[1] - 1
    if S < 0:
        raise ValueError("lm must have at least one row (S + 1 >= 1)")
    _check_symbols(symbols, B, S, C, termination_symbol)
    _check_finite("lm", lm)
    _check_finite("am", am)
    return B, S, T, C


def _additive_parts(lm: Tensor, am: Tensor, symbols: Tensor, termination_symbol: int,
                    regular: bool) -> dict[str, Tensor]:
    """Pieces shared by the simple and smoothed log-probs, without any (B, S + 1, T, C) tensor.

    normalizers[b, s, t] = log sum_c exp(lm[b, s, c] + am[b, t, c]) (B, S + 1, T), as a matrix product of
    exp(lm - lm_max) and exp(am - am_max), with the smallest positive float added inside the log.
    """
    S = lm.shape[1] - 1
    am_max = am.max(dim=2, keepdim=True).values  # (B, T, 1)
    lm_max = lm.max(dim=2, keepdim=True).values  # (B, S + 1, 1)
    am_probs = (am - am_max).exp()
    lm_probs = (lm - lm_max).exp()
    tiny = torch.finfo(am.dtype).tiny
    normalizers = (torch.matmul(lm_probs, am_probs.transpose(1, 2)) + tiny).log() + lm_max + am_max.transpose(1, 2)
    px_am = _gather_symbol_column(am, symbols)  # (B, S, T)
    if regular:
        px_am = _append_neg_inf_column(px_am)
    px_lm = torch.gather(lm[:, :S], 2, symbols.unsqueeze(-1))  # (B, S, 1)
    py_am = am[:, :, termination_symbol].unsqueeze(1)  # (B, 1, T)
    py_lm = lm[:, :, termination_symbol].unsqueeze(2)  # (B, S + 1, 1)
    return {"am_max": am_max, "lm_max": lm_max, "am_probs": am_probs, "lm_probs": lm_probs,
            "normalizers": normalizers, "px_am": px_am, "px_lm": px_lm, "py_am": py_am, "py_lm": py_lm}


def _subtract_normalizer(px_raw: Tensor, normalizers: Tensor, T: int) -> Tensor:
    """px_raw (B, S, T or T + 1) minus normalizers (B, S or 1, T) on the first T columns."""
    if px_raw.shape[2] == T:
        return px_raw - normalizers
    return torch.cat((px_raw[:, :, :T] - normalizers, px_raw[:, :, T:]), dim=2)


def get_rnnt_logprobs(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Lattice log-probs for the additive ("simple") joiner: logits[b, t, s, c] = lm[b, s, c] + am[b, t, c].

    px[b, s, t] = am[b, t, y_s] + lm[b, s, y_s] - normalizers[b, s, t];
    py[b, s, t] = am[b, t, blank] + lm[b, s, blank] - normalizers[b, s, t], with
    normalizers[b, s, t] = log sum_c exp(lm[b, s, c] + am[b, t, c]).

    Args:
      lm: (B, S + 1, C) predictor part; am: (B, T, C) encoder part; symbols: (B, S) int64;
      termination_symbol: blank id in [0, C); boundary: optional (B, 4) int64; rnnt_type: see module docstring.

    Returns:
      px (B, S, T + 1) if regular else (B, S, T); py (B, S + 1, T).
    """
    _check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    B, S, T, _ = _check_lm_am(lm, am, symbols, termination_symbol)
    boundary = _check_boundary(boundary, B, S, T, rnnt_type)
    parts = _additive_parts(lm, am, symbols, termination_symbol, rnnt_type == "regular")
    normalizers = parts["normalizers"]
    px = _subtract_normalizer(parts["px_am"] + parts["px_lm"], normalizers[:, :S, :], T)
    py = parts["py_am"] + parts["py_lm"] - normalizers
    return _finish_logprobs(px, py, boundary, rnnt_type)


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> Tensor | LossWithGrad:
    """RNN-T loss of the additive joiner ``lm[:, None] + am[:, :, None]`` (see ``get_rnnt_logprobs``).

    Returns the loss ((B,) for reduction "none", else a scalar), or ``(loss, (px_grad, py_grad))`` when
    ``return_grad``; px_grad (B, S, T + 1 or T) and py_grad (B, S + 1, T) are the arc occupancies.
    """
    _check_loss_options(rnnt_type, delay_penalty, reduction)
    px, py = get_rnnt_logprobs(lm, am, symbols, termination_symbol, boundary, rnnt_type)
    return _loss(px, py, boundary, rnnt_type, delay_penalty, reduction, return_grad)


def _check_scales(lm_only_scale: float, am_only_scale: float) -> None:
    for name, v in (("lm_only_scale", lm_only_scale), ("am_only_scale", am_only_scale)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    if lm_only_scale + am_only_scale > 1.0:
        raise ValueError(f"lm_only_scale + am_only_scale must be <= 1, got {lm_only_scale} + {am_only_scale}")


def get_rnnt_logprobs_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Additive-joiner log-probs interpolated in the log domain with LM-only and AM-only (unigram) versions.

    With l = lm_only_scale, a = am_only_scale (a scale of exactly 0, including 1 - l - a, is replaced by 1e-20 so
    that 0 * -inf is not NaN)::

        px = (1 - l - a) * px_combined + l * px_lm_only + a * px_am_only     (same for py)

    where px_combined/py_combined are ``get_rnnt_logprobs``; px_lm_only[b, s] = log_softmax(lm[b, s])[y_s]
    (broadcast over t); px_am_only uses am[b, t] + log unigram, with unigram[c] the mean over all (b, s) rows of
    softmax(lm[b, s])[c] (padded rows included) plus the smallest positive float.

    Returns px (B, S, T + 1) if regular else (B, S, T), py (B, S + 1, T).
    """
    _check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    _check_scales(lm_only_scale, am_only_scale)
    B, S, T, C = _check_lm_am(lm, am, symbols, termination_symbol)
    boundary = _check_boundary(boundary, B, S, T, rnnt_type)
    parts = _additive_parts(lm, am, symbols, termination_symbol, rnnt_type == "regular")
    tiny = torch.finfo(am.dtype).tiny
    normalizers, lm_probs, am_probs = parts["normalizers"], parts["lm_probs"], parts["am_probs"]
    px_am, px_lm, py_am, py_lm = parts["px_am"], parts["px_lm"], parts["py_am"], parts["py_lm"]

    lm_only_sum = lm_probs.sum(dim=2, keepdim=True)  # (B, S + 1, 1)
    unigram = (lm_probs / lm_only_sum).mean(dim=(0, 1)) + tiny  # (C,)
    am_only_normalizers = (torch.mv(am_probs.reshape(-1, C), unigram).reshape(B, T, 1).log()
                           + parts["am_max"]).transpose(1, 2)  # (B, 1, T)
    log_unigram = unigram.log()
    lm_only_normalizers = lm_only_sum.log() + parts["lm_max"]  # (B, S + 1, 1)

    px = _subtract_normalizer(px_am + px_lm, normalizers[:, :S, :], T)
    px_am_only = _subtract_normalizer(px_am + log_unigram[symbols].unsqueeze(-1), am_only_normalizers, T)
    px_lm_only = px_lm - lm_only_normalizers[:, :S, :]
    py = py_am + py_lm - normalizers
    py_am_only = py_am + log_unigram[termination_symbol] - am_only_normalizers
    py_lm_only = py_lm - lm_only_normalizers

    combined_scale = 1.0 - lm_only_scale - am_only_scale
    combined_scale = combined_scale if combined_scale != 0.0 else 1.0e-20
    lm_scale = lm_only_scale if lm_only_scale != 0.0 else 1.0e-20
    am_scale = am_only_scale if am_only_scale != 0.0 else 1.0e-20
    px = px * combined_scale + px_lm_only * lm_scale + px_am_only * am_scale
    py = py * combined_scale + py_lm_only * lm_scale + py_am_only * am_scale
    return _finish_logprobs(px, py, boundary, rnnt_type)


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> Tensor | LossWithGrad:
    """RNN-T loss on ``get_rnnt_logprobs_smoothed``; both scales 0 gives ``rnnt_loss_simple``.

    Returns the loss, or ``(loss, (px_grad, py_grad))`` when ``return_grad`` (the input of the prune ranges).
    """
    _check_loss_options(rnnt_type, delay_penalty, reduction)
    px, py = get_rnnt_logprobs_smoothed(lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale,
                                        boundary, rnnt_type)
    return _loss(px, py, boundary, rnnt_type, delay_penalty, reduction, return_grad)


# ----------------------------------------------------------------------------------------------------------------
# Full loss on joiner logits
# ----------------------------------------------------------------------------------------------------------------


def _check_logits(logits: Tensor, symbols: Tensor, termination_symbol: int, full: bool) -> tuple[int, ...]:
    """Validate logits (B, T, S + 1 or R, C) and symbols (B, S); return (B, T, S, C)."""
    _check_float("logits", logits, 4)
    B, T, R, C = logits.shape
    if not isinstance(symbols, Tensor) or symbols.dim() != 2 or symbols.shape[0] != B:
        shape = tuple(symbols.shape) if isinstance(symbols, Tensor) else type(symbols).__name__
        raise ValueError(f"symbols must have shape (B, S) with B = {B} from logits, got {shape}")
    S = symbols.shape[1]
    if full and R != S + 1:
        raise ValueError(f"logits must have shape (B, T, S + 1, C) = ({B}, {T}, {S + 1}, {C}), got {tuple(logits.shape)}")
    _check_symbols(symbols, B, S, C, termination_symbol)
    return B, T, S, C


def _symbol_and_blank_logprobs(logits: Tensor, symbol_index: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """Log-softmax of logits (B, T, R, C) at symbol_index (B, T, R) and at the blank: two (B, T, R) tensors.

    Equal to ``logits[..., c] - logsumexp(logits, dim=3)``; computed by one fused log_softmax and one gather of
    both columns, which is cheaper than logsumexp + two gathers forward and backward. Raises ValueError when a
    row of logits holds NaN or inf (such a row's log-probs are NaN).
    """
    log_probs = logits.log_softmax(dim=3)
    index = torch.stack((symbol_index, torch.full_like(symbol_index, blank)), dim=3)  # (B, T, R, 2)
    both = torch.gather(log_probs, 3, index)
    _check_finite("logits", both)
    return both[..., 0], both[..., 1]


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Lattice log-probs from full joiner logits (B, T, S + 1, C).

    px[b, s, t] = logits[b, t, s, y_s] - logsumexp_c logits[b, t, s, c];
    py[b, s, t] = logits[b, t, s, blank] - logsumexp_c logits[b, t, s, c].

    Returns px (B, S, T + 1) if regular else (B, S, T), py (B, S + 1, T).
    """
    _check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    B, T, S, _ = _check_logits(logits, symbols, termination_symbol, True)
    boundary = _check_boundary(boundary, B, S, T, rnnt_type)
    padded = torch.cat((symbols, symbols.new_full((B, 1), termination_symbol)), dim=1)  # (B, S + 1)
    px, py = _symbol_and_blank_logprobs(logits, padded.unsqueeze(1).expand(B, T, S + 1), termination_symbol)
    px = px[:, :, :S].transpose(1, 2)  # (B, S, T)
    if rnnt_type == "regular":
        px = _append_neg_inf_column(px)
    py = py.transpose(1, 2)  # (B, S + 1, T)
    return _finish_logprobs(px.contiguous(), py.contiguous(), boundary, rnnt_type)


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
) -> Tensor:
    """The full RNN-T loss on joiner logits (B, T, S + 1, C); for regular RNN-T it equals torchaudio's rnnt_loss.

    Returns (B,) for reduction "none", else a scalar.
    """
    _check_loss_options(rnnt_type, delay_penalty, reduction)
    px, py = get_rnnt_logprobs_joint(logits, symbols, termination_symbol, boundary, rnnt_type)
    return _loss(px, py, boundary, rnnt_type, delay_penalty, reduction, False)


# ----------------------------------------------------------------------------------------------------------------
# Pruning
# ----------------------------------------------------------------------------------------------------------------


def _monotonic_lower_bound(x: Tensor) -> Tensor:
    """out[..., t] = min over t' >= t of x[..., t'] (the largest non-decreasing sequence below x)."""
    return torch.cummin(x.flip(-1), dim=-1).values.flip(-1)


def _adjust_pruning_lower_bound(s_begin: Tensor, r: int) -> Tensor:
    """Make s_begin (B, T) start at 0, be non-decreasing and step by at most r - 1 per frame.

    x = lower_bound(s_begin); y = clamp(lower_bound((r - 1) * t - x), min=0); return (r - 1) * t - y. The
    transform y[t] = (r - 1) * t - x[t] is non-decreasing exactly when x[t + 1] - x[t] <= r - 1.
    """
    T = s_begin.shape[1]
    ramp = (r - 1) * torch.arange(T, device=s_begin.device, dtype=s_begin.dtype)
    x = _monotonic_lower_bound(s_begin)
    y = _monotonic_lower_bound(ramp - x).clamp(min=0)
    return ramp - y


def get_rnnt_prune_ranges(px_grad: Tensor, py_grad: Tensor, boundary: Tensor, s_range: int) -> Tensor:
    """Per-frame windows of ``s_range`` consecutive symbol positions that hold most of the path mass.

    Rules (k2's, reproduced exactly):

    1. regular (px_grad has T + 1 columns): s_range is raised to max_b trunc((S_b - 1) / T_b) + 2 if smaller
       (with a warning), since a window must let a path reach S_b symbols in T_b frames;
    2. if s_range > S it becomes S + 1 (no pruning);
    3. for each window start s: score[s, t] = sum_{k < s_range} py_grad[s + k, t] - px_grad[s - 1, t]
       (px_grad[-1] = 0); s_begin[t] = first argmax over s;
    4. frames t >= T_b - 1 get s_begin = max(0, S_b - s_range + 1) so the last frame covers the last symbol;
    5. s_begin is made non-decreasing from 0 with steps <= s_range - 1 (regular) or <= 1 (modified/constrained).

    Args:
      px_grad: (B, S, T + 1) regular or (B, S, T); py_grad: (B, S + 1, T); the occupancies returned with
        ``return_grad=True`` by the simple/smoothed loss.
      boundary: (B, 4) int64 [s_begin, t_begin, S_b, T_b]; each T_b >= 1.
      s_range: window size >= 1 (>= 2 for regular).

    Returns:
      ranges (B, T, s_range) int64, ranges[b, t] = s_begin[b, t] + arange(s_range), all in [0, S].
    """
    _check_float("px_grad", px_grad, 3)
    _check_float("py_grad", py_grad, 3)
    B, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    if py_grad.shape[:2] != (B, S + 1) or T1 not in (T, T + 1):
        raise ValueError(f"py_grad must have shape (B, S + 1, T) and px_grad (B, S, T + 1) or (B, S, T), got "
                         f"px_grad {tuple(px_grad.shape)}, py_grad {tuple(py_grad.shape)}")
    if isinstance(s_range, bool) or not isinstance(s_range, int):
        raise ValueError(f"s_range must be an int, got {type(s_range).__name__}")
    regular = T1 == T + 1
    if boundary is None:
        raise ValueError("boundary is required: pass [[0, 0, S_b, T_b], ...] as a (B, 4) int64 tensor")
    boundary = _check_boundary(boundary, B, S, T, "regular")
    if T == 0 or int(boundary[:, 3].min()) < 1:
        raise ValueError("boundary: every utterance needs T_b >= 1 frame to be pruned")
    if regular:
        s_lengths, t_lengths = boundary[:, 2], boundary[:, 3]
        s_range_min = int(torch.div(s_lengths - 1, t_lengths, rounding_mode="trunc").max()) + 2
        if s_range < s_range_min:
            warnings.warn(f"s_range={s_range} cannot cover {S} symbols in these frames; using {s_range_min}",
                          stacklevel=2)
            s_range = s_range_min
    minimum = 2 if regular else 1
    if s_range < minimum:
        kind = "regular" if regular else "modified/constrained"
        raise ValueError(f"s_range must be >= {minimum} for {kind} RNN-T, got {s_range}")
    if s_range > S:
        s_range = S + 1

    starts = S + 2 - s_range
    window = py_grad.unfold(1, s_range, 1).transpose(2, 3)  # (B, starts, s_range, T), a strided view
    blank_mass = window.sum(dim=2)  # (B, starts, T)
    px_pad = torch.cat((px_grad.new_zeros(B, 1, T1), px_grad), dim=1)  # (B, S + 1, T1)
    score = blank_mass - px_pad[:, :starts, :T]
    s_begin = torch.argmax(score, dim=1)  # (B, T)

    frames = torch.arange(T, device=px_grad.device).reshape(1, T)
    inside = frames < (boundary[:, 3].reshape(B, 1) - 1)
    last = (boundary[:, 2].reshape(B, 1) - s_range + 1).clamp(min=0)
    s_begin = torch.where(inside, s_begin, last)
    s_begin = _adjust_pruning_lower_bound(s_begin, s_range if regular else 2)
    return s_begin.unsqueeze(2) + torch.arange(s_range, device=px_grad.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> tuple[Tensor, Tensor]:
    """Select, per frame, the predictor rows in its window.

    Args:
      am: (B, T, D_am) encoder projection; lm: (B, S + 1, D_lm) predictor projection; ranges: (B, T, R) int64.

    Returns:
      am_pruned (B, T, R, D_am) (am broadcast, a view), lm_pruned (B, T, R, D_lm) with
      lm_pruned[b, t, r] = lm[b, ranges[b, t, r]].
    """
    for name, x in (("am", am), ("lm", lm), ("ranges", ranges)):
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(f"{name} must be a 3-dim tensor, got {tuple(x.shape) if isinstance(x, Tensor) else x}")
    B, T, R = ranges.shape
    if am.shape[:2] != (B, T) or lm.shape[0] != B:
        raise ValueError(f"am must be (B, T, D) = ({B}, {T}, D) and lm (B, S + 1, D) to match ranges {tuple(ranges.shape)}, "
                         f"got am {tuple(am.shape)}, lm {tuple(lm.shape)}")
    if ranges.dtype != torch.int64:
        raise ValueError(f"ranges must be int64, got {ranges.dtype}")
    if ranges.numel() and (int(ranges.min()) < 0 or int(ranges.max()) >= lm.shape[1]):
        raise ValueError(f"ranges must lie in [0, S] = [0, {lm.shape[1] - 1}]: use get_rnnt_prune_ranges")
    D_am, D_lm = am.shape[2], lm.shape[2]
    am_pruned = am.unsqueeze(2).expand(B, T, R, D_am)
    lm_pruned = torch.gather(lm, 1, ranges.reshape(B, T * R, 1).expand(B, T * R, D_lm)).reshape(B, T, R, D_lm)
    return am_pruned, lm_pruned


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Lattice log-probs from pruned joiner logits (B, T, R, C) computed at positions ``ranges`` (B, T, R).

    For r < R and s = ranges[b, t, r]: px[b, s, t] = logits[b, t, r, y'_s] - logsumexp_c logits[b, t, r, c] with
    y' = symbols padded with the blank to S + 1; py[b, s, t] = logits[b, t, r, blank] - logsumexp(...).
    Positions outside the window are -inf, so only paths inside the windows count.

    Returns px (B, S, T + 1) if regular else (B, S, T), py (B, S + 1, T).
    """
    _check_choice("rnnt_type", rnnt_type, RNNT_TYPES)
    B, T, S, _ = _check_logits(logits, symbols, termination_symbol, False)
    R = logits.shape[2]
    if not isinstance(ranges, Tensor) or ranges.shape != (B, T, R) or ranges.dtype != torch.int64:
        desc = f"{tuple(ranges.shape)} {ranges.dtype}" if isinstance(ranges, Tensor) else type(ranges).__name__
        raise ValueError(f"ranges must be an int64 tensor of shape (B, T, R) = ({B}, {T}, {R}), got {desc}")
    if R > S + 1 or (ranges.numel() and (int(ranges.min()) < 0 or int(ranges.max()) > S)):
        raise ValueError(f"ranges must select at most S + 1 = {S + 1} positions in [0, {S}]: use get_rnnt_prune_ranges")
    if ranges.numel() and not torch.equal(ranges - ranges[:, :, :1], torch.arange(R, device=ranges.device).expand_as(ranges)):
        raise ValueError("ranges[b, t] must be consecutive positions s_begin + arange(R): use get_rnnt_prune_ranges")
    boundary = _check_boundary(boundary, B, S, T, rnnt_type)
    padded = torch.cat((symbols, symbols.new_full((B, 1), termination_symbol)), dim=1)  # (B, S + 1)
    pruned_symbols = torch.gather(padded.unsqueeze(1).expand(B, T, S + 1), 2, ranges)  # (B, T, R)
    px_win, py_win = _symbol_and_blank_logprobs(logits, pruned_symbols, termination_symbol)
    full = logits.new_full((B, T, S + 1), _NEG_INF)
    px = full.scatter(2, ranges, px_win)[:, :, :S].transpose(1, 2)  # (B, S, T)
    py = full.scatter(2, ranges, py_win).transpose(1, 2)  # (B, S + 1, T)
    if rnnt_type == "regular":
        px = _append_neg_inf_column(px)
    return _finish_logprobs(px.contiguous(), py.contiguous(), boundary, rnnt_type)


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
) -> Tensor:
    """RNN-T loss over the paths inside the prune windows; >= the full loss, equal when R = S + 1.

    Args:
      logits: (B, T, R, C) joiner output on ``do_rnnt_pruning``'s inputs; ranges: (B, T, R) from
        ``get_rnnt_prune_ranges``; other arguments as in ``rnnt_loss``.

    Returns (B,) for reduction "none", else a scalar; +inf for an utterance whose windows admit no path.
    """
    _check_loss_options(rnnt_type, delay_penalty, reduction)
    px, py = get_rnnt_logprobs_pruned(logits, symbols, ranges, termination_symbol, boundary, rnnt_type)
    return _loss(px, py, boundary, rnnt_type, delay_penalty, reduction, False)
