"""ScaledAdam: the Zipformer optimizer (icefall's ``ScaledAdam``), written for hent-srt.

Every parameter tensor ``W`` (any shape, say ``(C_out, C_in)``) is updated relative to its own size.
With ``r = max(RMS(W), param_min_rms)``, gradient ``g`` and step ``t`` (0-based):

    v     <- beta2 * v + (1 - beta2) * g^2                       (Adam second moment)
    v_hat  = v / (1 - beta2^(t+1))      while that correction is below 0.99, else v
    d     <- beta1 * d - lr * (1 - beta1) * r * g / (sqrt(v_hat) + eps)
    W     <- W + d

``d`` is a momentum on the parameter change (Adam's first moment folded into the change).  On top of
that, the overall scale of ``W`` is learned as if ``W = W_0 * exp(s)``: every ``size_update_period``
steps, with ``G_k = sum(W * g_k)`` (the gradient w.r.t. ``s`` at each of the last P steps),

    u     <- beta2^P * u + (1 - beta2^P) * mean_k(G_k^2)
    step_s = -lr * scalar_lr_scale * sqrt(1 - beta2^(P * n)) * sum_k(G_k) / (sqrt(u) + eps)
    d     <- d + (1 - beta1) * W * step_s

where ``n`` counts scale updates; ``step_s`` is zeroed when ``RMS(W) < param_min_rms`` and capped
at ``(param_max_rms - RMS(W)) / RMS(W)`` so the scale update never takes the RMS past
``param_max_rms``.  Tensors with one element use plain Adam (no first-moment bias correction) with
learning rate ``lr * scalar_lr_scale`` and are kept within ``[-scalar_max, scalar_max]``.

Gradient clipping: the gradient norm is measured in "update space",
``||g||_c = sqrt(sum_W sum((g * RMS(W))^2) + sum_scalars (g * scalar_lr_scale)^2)``; every
``clipping_update_period`` steps (and early, at steps 10, 20, 40 with a doubled threshold) the
threshold is set to ``clipping_scale`` times the median (``sorted(norms)[n // 2]``) of the norms
recorded over the last period (step 0 is not recorded), and gradients whose norm exceeds it are
scaled down to it.  When that happens, the parameter that contributes most to ``||g||_c^2`` is
recorded (``last_dominant_parameter``).

Parameters of the same shape, dtype and device are stacked and updated together (a leading batch
dimension); their joint optimizer state lives in the state of the first of them, so
``state_dict``/``load_state_dict`` carry every running statistic and resume bit-exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

logger = logging.getLogger(__name__)

# Early steps at which the clipping threshold is (re)estimated before a full period has passed.
_EARLY_ESTIMATE_STEPS = (10, 20, 40)


@dataclass
class _Batch:
    """Same-shape parameters stacked on a new leading dim: ``stacked`` is ``(N, *shape)``."""

    members: list[Tensor]
    names: list[str]
    stacked: Tensor
    grad: Tensor
    state: dict = field(repr=False)


def _split_names(params: Any) -> tuple[list[dict], list[list[str]]]:
    """Turn parameters, named parameters or groups of either into torch param groups plus names.

    Accepted forms (as icefall): an iterable of tensors; an iterable of ``(name, tensor)``; a list of
    dicts each with ``"params"`` (tensors) or ``"named_params"`` (``(name, tensor)`` pairs) and
    optional per-group options.  Unnamed parameters get names ``group{i}.param{j}``.
    """
    if isinstance(params, Tensor):
        # Project rule: bad user input is a ValueError (hence the noqa).
        raise ValueError(  # noqa: TRY004
            "params: pass an iterable of parameters, not a single tensor; wrap it in a list"
        )
    items = list(params)
    if not items:
        raise ValueError("params: the parameter list is empty; pass model.named_parameters()")
    if not isinstance(items[0], dict):
        items = [{"params": items}]
    groups: list[dict] = []
    names: list[list[str]] = []
    for gi, group in enumerate(items):
        if not isinstance(group, dict):
            raise ValueError(  # noqa: TRY004
                "params: do not mix parameter groups (dicts) with bare parameters"
            )
        group = dict(group)
        if "named_params" in group:
            if "params" in group:
                raise ValueError(f"params: group {gi} has both 'params' and 'named_params'; give one")
            pairs = list(group.pop("named_params"))
            group_names, tensors = [], []
            for pair in pairs:
                if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], Tensor)):
                    raise ValueError(f"params: group {gi} 'named_params' must hold (name, tensor) pairs")
                group_names.append(str(pair[0]))
                tensors.append(pair[1])
        elif "params" in group:
            raw = group["params"]
            raw = [raw] if isinstance(raw, Tensor) else list(raw)
            group_names, tensors = [], []
            for pj, item in enumerate(raw):
                if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor):
                    group_names.append(str(item[0]))
                    tensors.append(item[1])
                elif isinstance(item, Tensor):
                    group_names.append(f"group{gi}.param{pj}")
                    tensors.append(item)
                else:
                    raise ValueError(
                        f"params: group {gi} item {pj} is {type(item).__name__}; expected a tensor "
                        "or a (name, tensor) pair"
                    )
        else:
            raise ValueError(f"params: group {gi} needs a 'params' or 'named_params' entry")
        if not tensors:
            raise ValueError(f"params: group {gi} has no parameters")
        group["params"] = tensors
        groups.append(group)
        names.append(group_names)
    return groups, names


def _check_group(group: dict, where: str) -> None:
    """Raise ValueError naming the first invalid hyper-parameter of a param group."""

    def bad(name: str, why: str) -> ValueError:
        return ValueError(f"{name}={group[name]!r} {where}: {why}")

    if not (isinstance(group["lr"], (int, float)) and group["lr"] >= 0 and math.isfinite(group["lr"])):
        raise bad("lr", "must be a finite number >= 0")
    cs = group["clipping_scale"]
    if cs is not None and not (isinstance(cs, (int, float)) and cs > 0 and math.isfinite(cs)):
        raise bad("clipping_scale", "must be None (no clipping) or a finite number > 0, e.g. 2.0")
    betas = group["betas"]
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise bad("betas", "must be a pair (beta1, beta2), e.g. (0.9, 0.98)")
    if not (0.0 <= betas[0] < 1.0 and 0.0 < betas[1] < 1.0 and betas[0] <= betas[1]):
        raise bad("betas", "need 0 <= beta1 <= beta2 < 1 and beta2 > 0, e.g. (0.9, 0.98)")
    for name in ("scalar_lr_scale", "eps", "param_min_rms", "param_max_rms", "scalar_max"):
        v = group[name]
        if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
            raise bad(name, "must be a finite number > 0")
    if group["param_min_rms"] >= group["param_max_rms"]:
        raise bad("param_min_rms", f"must be smaller than param_max_rms={group['param_max_rms']!r}")
    for name in ("size_update_period", "clipping_update_period"):
        v = group[name]
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise bad(name, "must be an integer >= 1")


class ScaledAdam(Optimizer):
    """Adam with parameter-scale-relative updates, learned tensor scales and median-based clipping.

    Args:
        params: ``model.named_parameters()`` (recommended: names are used in clipping reports), plain
            parameters, or a list of groups with ``"named_params"`` or ``"params"`` and options.
        lr: learning rate; typically 0.045 with the Eden schedule (much larger than for Adam).
        clipping_scale: clip the update-space gradient norm at this multiple of the recent median
            norm; None disables clipping (the norm is still measured).
        betas: (beta1, beta2): momentum on the change, and decay of the squared-gradient average.
        scalar_lr_scale: learning-rate factor for the learned tensor scales and one-element tensors.
        eps: added to the root of second moments.
        param_min_rms, param_max_rms: limits on a tensor's RMS when scaling its update and when
            learning its scale.
        scalar_max: bound on the magnitude of one-element parameters.
        size_update_period: steps between updates of the learned scales (and of the recorded RMS).
        clipping_update_period: number of recent norms whose median sets the clipping threshold,
            and the period with which the threshold is re-estimated.

    Attributes exposed for logging (TensorBoard), refreshed by every ``step()``:
        last_grad_norm: update-space gradient norm of the last step, over all groups, before clipping.
        last_clipping_scale: factor applied to the gradients of the last step (1.0: not clipped;
            the smallest over groups).
        last_dominant_parameter: ``(name, fraction of the squared norm)`` of the parameter that
            dominated the gradient on the last clipped step; None when the last step was not clipped.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.03,
        clipping_scale: float | None = None,
        betas: tuple[float, float] = (0.9, 0.98),
        scalar_lr_scale: float = 0.1,
        eps: float = 1.0e-8,
        param_min_rms: float = 1.0e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
        clipping_update_period: int = 100,
    ) -> None:
        defaults = {
            "lr": lr,
            "clipping_scale": clipping_scale,
            "betas": tuple(betas) if isinstance(betas, (tuple, list)) else betas,
            "scalar_lr_scale": scalar_lr_scale,
            "eps": eps,
            "param_min_rms": param_min_rms,
            "param_max_rms": param_max_rms,
            "scalar_max": scalar_max,
            "size_update_period": size_update_period,
            "clipping_update_period": clipping_update_period,
        }
        _check_group(defaults, "(ScaledAdam argument)")
        groups, names = _split_names(params)
        super().__init__(groups, defaults)
        for gi, group in enumerate(self.param_groups):
            _check_group(group, f"(ScaledAdam param group {gi})")
            for p, name in zip(group["params"], names[gi]):
                if p.is_sparse:
                    raise ValueError(f"params: {name} is sparse; ScaledAdam needs dense parameters")
        self.parameters_names = names
        self.last_grad_norm: float | None = None
        self.last_clipping_scale: float = 1.0
        self.last_dominant_parameter: tuple[str, float] | None = None

    # ------------------------------------------------------------------ batching

    def _make_batches(self, group: dict, names: list[str]) -> list[_Batch]:
        """Stack the group's parameters by (dtype, device, shape), in a deterministic order.

        Empty (zero-element) parameters have nothing to update and are left out.
        """
        by_key: dict[tuple, list[int]] = {}
        for i, p in enumerate(group["params"]):
            if p.numel() == 0:
                continue
            by_key.setdefault((str(p.dtype), str(p.device), *p.shape), []).append(i)
        batches = []
        for key in sorted(by_key):
            idx = by_key[key]
            members = [group["params"][i] for i in idx]
            for i in idx:
                g = group["params"][i].grad
                if g is not None and g.is_sparse:
                    raise ValueError(f"{names[i]}: ScaledAdam does not support sparse gradients")
            grad = torch.stack([torch.zeros_like(p) if p.grad is None else p.grad for p in members])
            batches.append(
                _Batch(
                    members=members,
                    names=[names[i] for i in idx],
                    stacked=torch.stack([p.detach() for p in members]),
                    grad=grad,
                    state=self.state[members[0]],
                )
            )
        return batches

    # ------------------------------------------------------------------ step

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Apply one update to every parameter (see the module docstring for the equations)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        total_sumsq = 0.0
        min_scale = 1.0
        dominant: tuple[str, float] | None = None
        for group, names in zip(self.param_groups, self.parameters_names):
            batches = self._make_batches(group, names)
            for b in batches:
                if len(b.state) == 0:
                    self._init_state(group, b)
            per_param, sumsq = self._grad_sumsq(group, batches)
            total_sumsq += sumsq
            scale = self._clipping_scale(group, batches[0].state, math.sqrt(sumsq))
            if scale < 1.0:
                dominant = self._dominant(per_param, sumsq, scale)
            min_scale = min(min_scale, scale)
            for b in batches:
                if scale == 0.0:
                    b.grad.zero_()
                elif scale != 1.0:
                    b.grad.mul_(scale)
                self._step_batch(group, b)
                for i, p in enumerate(b.members):
                    p.copy_(b.stacked[i])
        self.last_grad_norm = math.sqrt(total_sumsq)
        self.last_clipping_scale = min_scale
        self.last_dominant_parameter = dominant
        return loss

    def _init_state(self, group: dict, b: _Batch) -> None:
        """Create the zero-initialised state of a batch ``(N, *shape)``."""
        p = b.stacked
        state = b.state
        state["step"] = 0
        state["delta"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        if p[0].numel() > 1:
            rms = p.pow(2).mean(dim=tuple(range(1, p.ndim)), keepdim=True).sqrt()
            state["param_rms"] = rms
            state["scale_exp_avg_sq"] = torch.zeros_like(rms)
            state["scale_grads"] = torch.zeros(
                group["size_update_period"], *rms.shape, dtype=p.dtype, device=p.device
            )

    def _grad_sumsq(self, group: dict, batches: list[_Batch]) -> tuple[list[tuple[str, float]], float]:
        """Per-parameter and total squared update-space gradient norms of a group."""
        parts = []
        for b in batches:
            g = b.grad
            if b.stacked[0].numel() == 1:
                sq = (g * group["scalar_lr_scale"]).pow(2).reshape(g.shape[0], -1).sum(dim=1)
            else:
                sq = (g * b.state["param_rms"]).pow(2).reshape(g.shape[0], -1).sum(dim=1)
            parts.append(sq)
        sums = torch.cat(parts).double().cpu()
        names = [n for b in batches for n in b.names]
        per_param = list(zip(names, sums.tolist()))
        return per_param, float(sums.sum())

    def _clipping_scale(self, group: dict, first: dict, norm: float) -> float:
        """Record ``norm``, refresh the threshold when due, and return the factor (<= 1) to apply."""
        clipping_scale = group["clipping_scale"]
        step = first["step"]
        if clipping_scale is None or step == 0:
            return 1.0
        period = group["clipping_update_period"]
        if "model_norms" not in first:
            # A list of Python floats: Optimizer.load_state_dict leaves it untouched (no dtype cast).
            first["model_norms"] = [0.0] * period
            first["num_clipped"] = 0
        norms = first["model_norms"]
        norms[step % period] = norm
        early = [s for s in _EARLY_ESTIMATE_STEPS if s < period]
        if step % period == 0 or step in early:
            recent = sorted(norms, key=lambda x: math.inf if math.isnan(x) else x)
            if step in early:
                recent = recent[-step:]
            n = len(recent)
            quartiles = [recent[min(n - 1, (n * k) // 4)] for k in range(5)]
            median = recent[n // 2]
            if not math.isfinite(median):
                raise RuntimeError(
                    f"ScaledAdam: median gradient norm is {median} at step {step}: too many non-finite "
                    "gradients; lower the learning rate or check the loss for NaN/inf"
                )
            threshold = clipping_scale * median * (2.0 if step in early else 1.0)
            logger.info(
                "clipping_scale=%s, grad-norm quartiles %s, threshold=%.3e, percent-clipped=%.1f",
                clipping_scale,
                " ".join(f"{q:.3e}" for q in quartiles),
                threshold,
                first["num_clipped"] * 100.0 / n,
            )
            first["model_norm_threshold"] = threshold
            first["num_clipped"] = 0
        if "model_norm_threshold" not in first:
            return 1.0
        ratio = first["model_norm_threshold"] / (norm + 1.0e-20)
        scale = 0.0 if math.isnan(ratio) else min(1.0, ratio)  # non-finite gradients are zeroed
        if scale < 1.0:
            first["num_clipped"] += 1
        return scale

    def _dominant(self, per_param: list[tuple[str, float]], sumsq: float, scale: float) -> tuple[str, float]:
        """Name and squared-norm share of the parameter dominating a clipped gradient; logs it."""
        name, value = max(per_param, key=lambda nv: math.inf if math.isnan(nv[1]) else nv[1])
        share = value / sumsq if sumsq > 0 and math.isfinite(sumsq) else 1.0
        log = logger.warning if scale < 0.1 else logger.debug
        log(
            "scaling gradients by %.3g; parameter dominating the gradient norm: %s (%.2f of its square)",
            scale,
            name,
            share,
        )
        return name, share

    def _step_batch(self, group: dict, b: _Batch) -> None:
        """Update one stacked batch ``(N, *shape)`` in place: scale learning, then the Adam step."""
        p, grad, state = b.stacked, b.grad, b.state
        beta1 = group["betas"][0]
        step = state["step"]
        delta = state["delta"]
        delta.mul_(beta1)
        if p[0].numel() > 1:
            period = group["size_update_period"]
            dims = tuple(range(1, p.ndim))
            state["scale_grads"][step % period] = (p * grad).sum(dim=dims, keepdim=True)
            if step % period == period - 1:
                state["param_rms"].copy_(p.pow(2).mean(dim=dims, keepdim=True).sqrt())
                if step > 0:
                    self._size_update(group, p, state)
            self._tensor_update(group, p, grad, state)
        else:
            self._scalar_update(group, p, grad, state)
        state["step"] = step + 1

    @staticmethod
    def _size_update(group: dict, p: Tensor, state: dict) -> None:
        """Learn the overall scale of each tensor in the batch (adds to the momentum ``delta``)."""
        beta1, beta2 = group["betas"]
        scale_grads = state["scale_grads"]
        period = scale_grads.shape[0]
        beta2_p = beta2**period
        avg_sq = state["scale_exp_avg_sq"]
        avg_sq.mul_(beta2_p).add_(scale_grads.pow(2).mean(dim=0), alpha=1 - beta2_p)
        size_step = (state["step"] + 1) // period
        correction = (1 - beta2_p**size_step) ** 0.5
        size_lr = group["lr"] * group["scalar_lr_scale"]
        scale_step = -size_lr * correction * scale_grads.sum(dim=0) / (avg_sq.sqrt() + group["eps"])
        rms = state["param_rms"]
        scale_step.masked_fill_(rms < group["param_min_rms"], 0.0)
        scale_step = torch.minimum(scale_step, (group["param_max_rms"] - rms) / rms)
        state["delta"].add_(p * scale_step, alpha=1 - beta1)

    @staticmethod
    def _tensor_update(group: dict, p: Tensor, grad: Tensor, state: dict) -> None:
        """RMS-relative Adam step for a batch of non-scalar tensors."""
        beta1, beta2 = group["betas"]
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction = 1 - beta2 ** (state["step"] + 1)
        denom = (exp_avg_sq * (1.0 / correction) if correction < 0.99 else exp_avg_sq).sqrt()
        denom += group["eps"]
        alpha = -group["lr"] * (1 - beta1) * state["param_rms"].clamp(min=group["param_min_rms"])
        state["delta"].add_(grad / denom * alpha)
        p.add_(state["delta"])

    @staticmethod
    def _scalar_update(group: dict, p: Tensor, grad: Tensor, state: dict) -> None:
        """Plain Adam step (lr * scalar_lr_scale) for a batch of one-element tensors."""
        beta1, beta2 = group["betas"]
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction = 1 - beta2 ** (state["step"] + 1)
        denom = (exp_avg_sq / correction).sqrt() + group["eps"]
        lr = group["lr"] * group["scalar_lr_scale"]
        state["delta"].add_(grad / denom, alpha=-lr * (1 - beta1))
        p.add_(state["delta"])
        p.clamp_(min=-group["scalar_max"], max=group["scalar_max"])
