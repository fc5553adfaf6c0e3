"""The transducer lattice recursion ("mutual information recursion"), in pure PyTorch.

Given per-arc log-probabilities of a 2-D lattice whose node ``(s, t)`` means "``s`` symbols emitted and ``t``
frames consumed", this module computes, per batch element ``b``, the total log-probability of all paths from
``(s_begin, t_begin)`` to ``(s_end, t_end)``, and the posterior occupation probability of every arc. The
semantics (shapes, boundary convention, return values) are those of k2's ``mutual_information_recursion``, so
code written for k2 runs unchanged.

Shapes (``B`` batch, ``S`` symbols, ``T`` frames)::

    px: (B, S, T + 1)   "regular" lattice: px[b, s, t] is the arc (s, t) -> (s + 1, t)
        (B, S, T)       "modified" lattice: px[b, s, t] is the arc (s, t) -> (s + 1, t + 1)
    py: (B, S + 1, T)   py[b, s, t] is the arc (s, t) -> (s, t + 1)
    boundary: (B, 4) int64 rows [s_begin, t_begin, s_end, t_end]; default [0, 0, S, T]

Recursion, with ``p[b, s_begin, t_begin] = 0`` and predecessors outside the boundary rectangle taken as ``-inf``::

    regular:  p[b, s, t] = logaddexp(p[b, s - 1, t] + px[b, s - 1, t],     p[b, s, t - 1] + py[b, s, t - 1])
    modified: p[b, s, t] = logaddexp(p[b, s - 1, t - 1] + px[b, s - 1, t - 1], p[b, s, t - 1] + py[b, s, t - 1])

    score[b] = p[b, s_end, t_end]

The lattice type is read from ``px.shape[2]`` (``T + 1`` regular, ``T`` modified). In the regular lattice every
complete path takes exactly ``T`` blank arcs; callers that want "no symbol after the last frame" put ``-inf`` in
``px[b, :, t_end]`` (see ``hent_srt.loss.rnnt``), the recursion itself does not.

Gradients. With the backward variable ``q[b, s, t]`` (log-probability of all paths from ``(s, t)`` to the end)::

    d score / d px[b, s, t] = exp(p[b, s, t] + px[b, s, t] + q[b, s + 1, t (+1 if modified)] - score[b])
    d score / d py[b, s, t] = exp(p[b, s, t] + py[b, s, t] + q[b, s, t + 1] - score[b])

i.e. the posterior probability that a path uses the arc (each in [0, 1]). They are computed during the forward
computation whenever an input needs a gradient or ``return_grad=True``; the autograd backward multiplies them by the incoming
per-utterance gradient. Arcs that no complete path uses, and every arc of an utterance whose score is ``-inf``,
get exactly 0 (never NaN): the recursion is never differentiated through ``logaddexp(-inf, -inf)``.

Implementation. The regular recursion runs as an anti-diagonal wavefront: the nodes with ``s + t = d`` depend
only on diagonal ``d - 1``, so ``S + T`` steps each update a ``(B, S + 1)`` slice. The modified recursion runs a
loop over the ``T`` frames, each step updating a ``(B, S + 1)`` slice; a step is two tensor operations (one add
forming both candidates, one logaddexp). Both work on float32 and float64 tensors on
any device.

Backend. ``HENT_SRT_RNNT_BACKEND`` selects the implementation: ``torch`` (this module), ``k2`` (k2's CUDA/C++
kernel; an error if k2 cannot be imported) or ``auto`` (the default: k2 when it imports and supports the tensors,
else ``torch``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["BACKEND_ENV", "NonFiniteError", "mutual_information_recursion", "selected_backend"]

BACKEND_ENV = "HENT_SRT_RNNT_BACKEND"
_BACKENDS = ("torch", "k2", "auto")
_NEG_INF = float("-inf")


class NonFiniteError(ValueError):
    """A loss input holds NaN or inf: a diverged network (or bad features), not a wrong call.

    A ValueError for direct callers; the trainer catches this type and skips the batch."""


@functools.lru_cache(maxsize=1)
def _import_k2() -> Any:
    """Return the ``k2`` module, or None when it cannot be imported."""
    try:
        import k2
    except (ImportError, OSError, RuntimeError):  # a broken k2 build raises OSError/RuntimeError on import
        return None
    return k2


def selected_backend(px: Tensor | None = None) -> str:
    """Return the backend (``"torch"`` or ``"k2"``) that ``HENT_SRT_RNNT_BACKEND`` selects for ``px``.

    ``auto`` picks k2 when ``import k2`` works and ``px`` is a float32/float64 tensor on CPU or CUDA.
    """
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice not in _BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={choice!r} is not a backend: set it to one of {', '.join(_BACKENDS)}")
    if choice == "torch":
        return "torch"
    k2 = _import_k2()
    if choice == "k2":
        if k2 is None:
            raise ValueError(f"{BACKEND_ENV}=k2 but k2 cannot be imported: install k2 or set {BACKEND_ENV}=torch")
        return "k2"
    supported = px is None or (px.dtype in (torch.float32, torch.float64) and px.device.type in ("cpu", "cuda"))
    return "k2" if k2 is not None and supported else "torch"


@dataclass(frozen=True)
class _Bounds:
    """Per-utterance lattice corners as Python ints (validated), plus the lattice type."""

    s_begin: tuple[int, ...]
    t_begin: tuple[int, ...]
    s_end: tuple[int, ...]
    t_end: tuple[int, ...]
    regular: bool

    def step(self, s: int, t: int) -> int:
        """Index of the wavefront step that computes node (s, t): s + t (regular) or t (modified)."""
        return s + t if self.regular else t

    def groups(self, begin: bool, device: torch.device) -> dict[int, tuple[Tensor, Tensor]]:
        """Map wavefront step -> (batch indices, symbol indices) of the start (begin) or end nodes on it."""
        s_list, t_list = (self.s_begin, self.t_begin) if begin else (self.s_end, self.t_end)
        by_step: dict[int, tuple[list[int], list[int]]] = {}
        for b, (s, t) in enumerate(zip(s_list, t_list)):
            bs, ss = by_step.setdefault(self.step(s, t), ([], []))
            bs.append(b)
            ss.append(s)
        return {
            k: (torch.tensor(bs, dtype=torch.int64, device=device), torch.tensor(ss, dtype=torch.int64, device=device))
            for k, (bs, ss) in by_step.items()
        }


def _validate(px: Tensor, py: Tensor, boundary: Tensor | None) -> tuple[Tensor | None, _Bounds]:
    """Check shapes, dtypes, values and boundary; return boundary as int64 (or None) and the parsed bounds."""
    for name, x in (("px", px), ("py", py)):
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"{name} must have 3 dims, got shape {tuple(x.shape)}")
        if x.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{name} must be float32 or float64, got {x.dtype}: cast it (autocast off for the loss)")
    if px.dtype != py.dtype or px.device != py.device:
        raise ValueError(f"px and py must share dtype and device, got {px.dtype}/{px.device} and {py.dtype}/{py.device}")
    B, S, T1 = px.shape
    T = py.shape[2]
    if py.shape[:2] != (B, S + 1):
        raise ValueError(f"py must have shape (B, S + 1, T) = ({B}, {S + 1}, T) for px {tuple(px.shape)}, "
                         f"got {tuple(py.shape)}")
    if T1 not in (T, T + 1):
        raise ValueError(f"px.shape[2] must be T + 1 (regular) or T (modified) with T = py.shape[2] = {T}, "
                         f"got px {tuple(px.shape)}")
    for name, x in (("px", px), ("py", py)):
        if x.numel() and not bool((x < float("inf")).all()):
            raise NonFiniteError(f"{name} contains NaN or +inf: check the logits that produced it")
    regular = T1 == T + 1
    if boundary is None:
        return None, _Bounds((0,) * B, (0,) * B, (S,) * B, (T,) * B, regular)
    if not isinstance(boundary, Tensor) or boundary.shape != (B, 4):
        shape = tuple(boundary.shape) if isinstance(boundary, Tensor) else type(boundary).__name__
        raise ValueError(f"boundary must be a (B, 4) = ({B}, 4) tensor of [s_begin, t_begin, s_end, t_end], got {shape}")
    if boundary.dtype.is_floating_point or boundary.dtype.is_complex or boundary.dtype == torch.bool:
        raise ValueError(f"boundary must be an integer tensor (int64), got {boundary.dtype}")
    boundary = boundary.to(device=px.device, dtype=torch.int64)
    rows = boundary.tolist()
    for b, (s0, t0, s1, t1) in enumerate(rows):
        if not (0 <= s0 <= s1 <= S and 0 <= t0 <= t1 <= T):
            raise ValueError(f"boundary[{b}] = {[s0, t0, s1, t1]} is outside the lattice: need "
                             f"0 <= s_begin <= s_end <= S = {S} and 0 <= t_begin <= t_end <= T = {T}")
    cols = list(zip(*rows)) if rows else [(), (), (), ()]
    return boundary, _Bounds(tuple(cols[0]), tuple(cols[1]), tuple(cols[2]), tuple(cols[3]), regular)


def _skew(x: Tensor, num_steps: int) -> Tensor:
    """(B, R, C) -> (num_steps, B, R) with out[d, b, r] = x[b, r, d - r], and -inf where d - r is not in [0, C)."""
    B, R, C = x.shape
    out = x.new_full((num_steps, B, R), _NEG_INF)
    if C == 0 or R == 0:
        return out
    d = torch.arange(num_steps, device=x.device)[:, None]
    r = torch.arange(R, device=x.device)[None, :]
    t = d - r
    valid = (t >= 0) & (t < C)
    index = t.clamp(0, C - 1)[:, None, :].expand(num_steps, B, R)
    gathered = x.permute(2, 0, 1).gather(0, index)
    return torch.where(valid[:, None, :], gathered, out)


def _unskew(y: Tensor, C: int) -> Tensor:
    """Inverse of ``_skew``: (D, B, R) -> (B, R, C) with out[b, r, t] = y[r + t, b, r]."""
    _, B, R = y.shape
    t = torch.arange(C, device=y.device)[:, None]
    r = torch.arange(R, device=y.device)[None, :]
    index = (t + r)[:, None, :].expand(C, B, R)
    return y.gather(0, index).permute(1, 2, 0)


def _shifted_pairs(grid: Tensor, k: int) -> Tensor:
    """View of row k of grid (N + 1, B, W) as (2, B, W - 1): [grid[k][:, :-1], grid[k][:, 1:]] (no copy)."""
    _, B, W = grid.shape
    return grid.as_strided((2, B, W - 1), (1, W, 1), grid.storage_offset() + k * B * W)


def _forward_scores(xs: Tensor, ys: Tensor, starts: dict[int, tuple[Tensor, Tensor]]) -> Tensor:
    """Alpha recursion over wavefront steps.

    xs (N, B, S): symbol arcs leaving the nodes of step k; ys (N, B, S + 1): blank arcs leaving them. Both kinds
    land on step k + 1 (this is what the skew does for the regular lattice; the modified lattice is frame-major).
    Returns alpha (N + 1, B, S + 1): alpha[k + 1][:, s] = logaddexp(alpha[k][:, s - 1] + xs[k][:, s - 1],
    alpha[k][:, s] + ys[k][:, s]), with 0 injected at the start nodes. Internally column 0 is a fixed -inf pad
    (the node s = -1) and both candidates of a step come from one add, so a step is two tensor operations.
    """
    N, B, S1 = ys.shape
    xs_from_left = torch.cat((xs.new_full((N, B, 1), _NEG_INF), xs), dim=2)  # arc into s comes from s - 1
    arcs = torch.stack((xs_from_left, ys), dim=1)  # (N, 2, B, S + 1)
    alpha = ys.new_full((N + 1, B, S1 + 1), _NEG_INF)
    for k in range(N + 1):
        if k > 0:
            cand = _shifted_pairs(alpha, k - 1) + arcs[k - 1]
            torch.logaddexp(cand[0], cand[1], out=alpha[k, :, 1:])
        if k in starts:
            b, s = starts[k]
            alpha[k, b, s + 1] = 0.0
    return alpha[:, :, 1:]


def _backward_scores(xs: Tensor, ys: Tensor, ends: dict[int, tuple[Tensor, Tensor]]) -> Tensor:
    """Beta recursion, the mirror of ``_forward_scores``: beta (N + 1, B, S + 1) with
    beta[k][:, s] = logaddexp(xs[k][:, s] + beta[k + 1][:, s + 1], ys[k][:, s] + beta[k + 1][:, s]),
    with 0 injected at the end nodes. Internally column S + 1 is a fixed -inf pad."""
    N, B, S1 = ys.shape
    xs_to_right = torch.cat((xs, xs.new_full((N, B, 1), _NEG_INF)), dim=2)  # no symbol arc leaves s = S
    arcs = torch.stack((ys, xs_to_right), dim=1)  # (N, 2, B, S + 1)
    beta = ys.new_full((N + 1, B, S1 + 1), _NEG_INF)
    for k in range(N, -1, -1):
        if k < N:
            cand = _shifted_pairs(beta, k + 1) + arcs[k]
            torch.logaddexp(cand[0], cand[1], out=beta[k, :, :-1])
        if k in ends:
            b, s = ends[k]
            beta[k, b, s] = 0.0
    return beta[:, :, :-1]


def _lattice_steps(px: Tensor, py: Tensor, regular: bool) -> tuple[Tensor, Tensor]:
    """Arrange px, py by wavefront step: (N, B, S) and (N, B, S + 1), N = S + T (regular) or T (modified)."""
    S, T = px.shape[1], py.shape[2]
    if regular:
        return _skew(px, S + T), _skew(py, S + T)
    return px.permute(2, 0, 1), py.permute(2, 0, 1)


def _to_grid(steps: Tensor, T: int, regular: bool) -> Tensor:
    """(N + 1, B, S + 1) per-step node values -> (B, S + 1, T + 1) lattice grid."""
    return _unskew(steps, T + 1) if regular else steps.permute(1, 2, 0)


def _scores_from(alpha: Tensor, bounds: _Bounds) -> Tensor:
    """score[b] = alpha at the end node of utterance b, shape (B,)."""
    B = alpha.shape[1]
    k = torch.tensor([bounds.step(s, t) for s, t in zip(bounds.s_end, bounds.t_end)], dtype=torch.int64,
                     device=alpha.device)
    s = torch.tensor(bounds.s_end, dtype=torch.int64, device=alpha.device)
    return alpha[k, torch.arange(B, device=alpha.device), s]


def _scores(px: Tensor, py: Tensor, bounds: _Bounds) -> Tensor:
    """Total log-probability per utterance (B,), no occupancies."""
    xs, ys = _lattice_steps(px, py, bounds.regular)
    alpha = _forward_scores(xs, ys, bounds.groups(True, px.device))
    return _scores_from(alpha, bounds)


def _scores_and_occupancies(px: Tensor, py: Tensor, bounds: _Bounds) -> tuple[Tensor, Tensor, Tensor]:
    """Scores (B,) and arc occupancies px_grad (shape of px), py_grad (shape of py), each in [0, 1]."""
    S, T = px.shape[1], py.shape[2]
    xs, ys = _lattice_steps(px, py, bounds.regular)
    alpha_steps = _forward_scores(xs, ys, bounds.groups(True, px.device))
    beta_steps = _backward_scores(xs, ys, bounds.groups(False, px.device))
    scores = _scores_from(alpha_steps, bounds)
    alpha = _to_grid(alpha_steps, T, bounds.regular)
    beta = _to_grid(beta_steps, T, bounds.regular)
    finite = torch.isfinite(scores)
    total = torch.where(finite, scores, torch.zeros_like(scores))[:, None, None]
    keep = finite[:, None, None]
    beta_x = beta[:, 1:, :] if bounds.regular else beta[:, 1:, 1:]
    log_px = alpha[:, :S, : px.shape[2]] + px + beta_x - total
    log_py = alpha[:, :, :T] + py + beta[:, :, 1:] - total
    px_grad = torch.where(keep, log_px.exp().clamp(max=1.0), torch.zeros_like(px))
    py_grad = torch.where(keep, log_py.exp().clamp(max=1.0), torch.zeros_like(py))
    return scores, px_grad, py_grad


class _MutualInformation(torch.autograd.Function):
    """score = recursion(px, py); d score / d (px, py) = arc occupancies, computed in forward."""

    @staticmethod
    def forward(ctx: Any, px: Tensor, py: Tensor, bounds: _Bounds) -> tuple[Tensor, Tensor, Tensor]:
        scores, px_grad, py_grad = _scores_and_occupancies(px.detach(), py.detach(), bounds)
        ctx.save_for_backward(px_grad, py_grad)
        ctx.mark_non_differentiable(px_grad, py_grad)
        return scores, px_grad, py_grad

    @staticmethod
    def backward(ctx: Any, grad_scores: Tensor, *_unused: Tensor) -> tuple[Tensor, Tensor, None]:
        px_grad, py_grad = ctx.saved_tensors
        g = grad_scores.reshape(-1, 1, 1)
        return px_grad * g, py_grad * g, None


def mutual_information_recursion(
    px: Tensor, py: Tensor, boundary: Tensor | None = None, return_grad: bool = False
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """Total log-probability of all lattice paths, per utterance (see the module docstring for the recursion).

    Args:
      px: (B, S, T + 1) regular or (B, S, T) modified symbol-arc log-probs, float32/float64, no NaN or +inf.
      py: (B, S + 1, T) blank-arc log-probs, same dtype and device.
      boundary: optional (B, 4) int64 [s_begin, t_begin, s_end, t_end]; default [0, 0, S, T] for every row.
      return_grad: also return the arc occupancies (d score / d px, d score / d py) even if no input needs grad.

    Returns:
      scores (B,), or (scores, (px_grad, py_grad)) when ``return_grad``; px_grad has px's shape, py_grad py's.
      An utterance with no complete path scores -inf and all its occupancies are 0.
    """
    boundary, bounds = _validate(px, py, boundary)
    if selected_backend(px) == "k2":
        k2 = _import_k2()
        return k2.mutual_information_recursion(px.contiguous(), py.contiguous(), boundary, return_grad)
    need_grad = torch.is_grad_enabled() and (px.requires_grad or py.requires_grad)
    if not (need_grad or return_grad):
        return _scores(px.detach(), py.detach(), bounds)
    if need_grad:
        scores, px_grad, py_grad = _MutualInformation.apply(px, py, bounds)
    else:
        scores, px_grad, py_grad = _scores_and_occupancies(px.detach(), py.detach(), bounds)
    return (scores, (px_grad, py_grad)) if return_grad else scores
