"""Building blocks of the Zipformer2 encoder (Yao et al., arXiv 2310.11230).

Everything here follows the behaviour of icefall's ``zipformer/scaling.py`` and keeps its
hyper-parameter names, so that a user coming from icefall finds the same knobs:

- :class:`ScheduledFloat`: a float that is a piecewise-linear function of the training batch count;
  :func:`set_batch_count` sets that count on every module of a model.
- :func:`ScaledLinear`, :func:`ScaledConv1d`, :func:`ScaledConv2d`: standard layers whose initial
  parameters are multiplied by ``initial_scale``.
- :class:`BiasNorm`: ``y = x * mean((x - b)^2)^-1/2 * exp(log_scale)`` (replaces LayerNorm).
- :class:`SwooshL`, :class:`SwooshR`: the activations, with a backward that stores only the input.
- :class:`ActivationDropoutAndLinear`: ``Linear(Dropout(Swoosh(x)))`` storing only ``x`` for backward.
- :class:`Balancer`, :class:`Whiten`: identity in forward; in backward they add a corrective gradient.
  :func:`whiten_probs` / :func:`set_whiten_probs` read and restore the Whitens' adaptive check probability.
- :func:`limit_param_value`, :func:`penalize_abs_values_gt`, :class:`ScaleGrad`: gradient-only tricks.
- :class:`Dropout2`, :class:`Dropout3`: dropout with a scheduled rate (Dropout3 shares the mask over
  one axis).
- :class:`ChunkCausalDepthwiseConv1d`: a depthwise convolution that is causal chunk by chunk.
"""

from __future__ import annotations

import itertools
import math
import random

import torch
from torch import Tensor, nn


class PiecewiseLinear:
    """A piecewise-linear function of one float, given as ``(x, y)`` points with increasing ``x``.

    Below the first point the first ``y`` is returned, above the last point the last ``y``.
    """

    def __init__(self, *points: tuple[float, float]) -> None:
        if len(points) == 0:
            raise ValueError("points: give at least one (x, y) pair")
        self.points = [(float(x), float(y)) for x, y in points]
        for (x0, _), (x1, _) in itertools.pairwise(self.points):
            if not x1 > x0:
                raise ValueError(f"points: x values must increase strictly, got {x0} then {x1}")

    def __call__(self, x: float) -> float:
        pts = self.points
        if x <= pts[0][0]:
            return pts[0][1]
        if x >= pts[-1][0]:
            return pts[-1][1]
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            if x0 <= x <= x1:
                return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        raise AssertionError("unreachable: x lies between the first and last points")


class ScheduledFloat(nn.Module):
    """A float that changes with the training batch count: ``float(sf)`` gives its current value.

    ``ScheduledFloat((0.0, 0.3), (20000.0, 0.1), default=0.0)`` is 0.3 at batch 0, falls linearly to
    0.1 at batch 20000 and stays there. The value is ``default`` when the module is in eval mode or
    before a batch count was set (see :func:`set_batch_count`). It is an ``nn.Module`` only so that it
    appears in ``model.modules()`` and follows ``model.train()``/``model.eval()``.
    """

    def __init__(self, *points: tuple[float, float], default: float = 0.0) -> None:
        super().__init__()
        self.schedule = PiecewiseLinear(*points)
        self.default = float(default)
        self.batch_count: float | None = None

    def extra_repr(self) -> str:
        return f"points={self.schedule.points}, default={self.default}, batch_count={self.batch_count}"

    def __float__(self) -> float:
        if self.batch_count is None or not self.training:
            return self.default
        return self.schedule(self.batch_count)


FloatLike = float | ScheduledFloat


def set_batch_count(model: nn.Module, batch_count: float) -> None:
    """Set the training batch count on every module of ``model`` that has a ``batch_count``.

    icefall uses the *adjusted* count ``step * (max_duration * world_size) / 600``; the trainer passes
    whichever count it uses. ``model`` may be wrapped in DistributedDataParallel.
    """
    if batch_count < 0:
        raise ValueError(f"batch_count must be >= 0, got {batch_count}")
    if hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    for module in model.modules():
        if hasattr(module, "batch_count"):
            module.batch_count = float(batch_count)


def _scale_init(layer: nn.Module, initial_scale: float) -> nn.Module:
    with torch.no_grad():
        layer.weight.mul_(initial_scale)
        if layer.bias is not None:
            nn.init.uniform_(layer.bias, -0.1 * initial_scale, 0.1 * initial_scale)
    return layer


def ScaledLinear(
    in_features: int, out_features: int, bias: bool = True, initial_scale: float = 1.0
) -> nn.Linear:
    """``nn.Linear`` whose initial weight is multiplied by ``initial_scale`` and whose bias is drawn
    from U(-0.1 * initial_scale, 0.1 * initial_scale)."""
    return _scale_init(nn.Linear(in_features, out_features, bias=bias), initial_scale)


def ScaledConv1d(*args, initial_scale: float = 1.0, **kwargs) -> nn.Conv1d:
    """``nn.Conv1d`` with the initial parameters scaled as in :func:`ScaledLinear`."""
    return _scale_init(nn.Conv1d(*args, **kwargs), initial_scale)


def ScaledConv2d(*args, initial_scale: float = 1.0, **kwargs) -> nn.Conv2d:
    """``nn.Conv2d`` with the initial parameters scaled as in :func:`ScaledLinear`."""
    return _scale_init(nn.Conv2d(*args, **kwargs), initial_scale)


class _LimitParamValue(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, min_value: float, max_value: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.bounds = (min_value, max_value)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, x_grad: Tensor):
        (x,) = ctx.saved_tensors
        min_value, max_value = ctx.bounds
        flip_low = torch.logical_and(x_grad > 0, x < min_value)
        x_grad = torch.where(flip_low, -x_grad, x_grad)
        flip_high = torch.logical_and(x_grad < 0, x > max_value)
        x_grad = torch.where(flip_high, -x_grad, x_grad)
        return x_grad, None, None


def limit_param_value(
    x: Tensor, min: float, max: float, prob: float = 0.6, training: bool = True
) -> Tensor:
    """Return ``x`` unchanged; in backward (with probability ``prob``, in training only), flip the sign
    of gradients that would push an element of ``x`` further below ``min`` or above ``max``, so that a
    gradient-descent step moves it back into range."""
    if max < min:
        raise ValueError(f"limit_param_value: max ({max}) must be >= min ({min})")
    if training and random.random() < prob:
        return _LimitParamValue.apply(x, float(min), float(max))
    return x


class _WithLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:
        ctx.y_shape = y.shape
        return x.view_as(x)

    @staticmethod
    def backward(ctx, x_grad: Tensor):
        return x_grad, torch.ones(ctx.y_shape, dtype=x_grad.dtype, device=x_grad.device)


def penalize_abs_values_gt(x: Tensor, limit: float, penalty: float) -> Tensor:
    """Return ``x`` unchanged, but backward behaves as if ``penalty * sum(relu(|x| - limit))`` had been
    added to the loss (the gradient of ``x`` gains ``penalty * sign(x)`` where ``|x| > limit``)."""
    over = (x.abs() - limit) > 0
    aux_loss = penalty * ((x.sign() * over).to(x.dtype) * x)
    return _WithLoss.apply(x, aux_loss)


class _ScaleGradFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.alpha, None


class ScaleGrad(nn.Module):
    """Identity in forward; multiplies the gradient by ``alpha`` in backward (training only)."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or not x.requires_grad:
            return x
        return _ScaleGradFunction.apply(x, self.alpha)


def swoosh_l_reference(x: Tensor) -> Tensor:
    """SwooshL(x) = log(1 + e^(x-4)) - 0.08 x - 0.035, with plain autograd."""
    return nn.functional.softplus(x - 4.0, beta=1.0, threshold=20.0) - 0.08 * x - 0.035


def swoosh_r_reference(x: Tensor) -> Tensor:
    """SwooshR(x) = log(1 + e^(x-1)) - 0.08 x - 0.313261687, with plain autograd."""
    return nn.functional.softplus(x - 1.0, beta=1.0, threshold=20.0) - 0.08 * x - 0.313261687


# (offset, constant) of each activation: f(x) = softplus(x - offset) - 0.08 x - constant,
# f'(x) = sigmoid(x - offset) - 0.08.
_SWOOSH = {"SwooshL": (4.0, 0.035), "SwooshR": (1.0, 0.313261687)}


def _swoosh_forward(x: Tensor, name: str) -> Tensor:
    offset, constant = _SWOOSH[name]
    y = nn.functional.softplus(x - offset)
    return y.add_(x, alpha=-0.08).sub_(constant)


def _swoosh_deriv(x: Tensor, name: str) -> Tensor:
    offset, _ = _SWOOSH[name]
    return torch.sigmoid(x - offset).sub_(0.08)


class _SwooshFunction(torch.autograd.Function):
    """Swoosh activation that saves only its input; backward recomputes sigmoid(x - offset) - 0.08."""

    @staticmethod
    def forward(ctx, x: Tensor, name: str) -> Tensor:
        ctx.save_for_backward(x)
        ctx.name = name
        return _swoosh_forward(x, name)

    @staticmethod
    def backward(ctx, y_grad: Tensor):
        (x,) = ctx.saved_tensors
        return y_grad * _swoosh_deriv(x, ctx.name), None


class SwooshL(nn.Module):
    """SwooshL(x) = log(1 + e^(x-4)) - 0.08 x - 0.035, any shape; backward stores only ``x``."""

    def forward(self, x: Tensor) -> Tensor:
        if not x.requires_grad:
            return _swoosh_forward(x, "SwooshL")
        return _SwooshFunction.apply(x, "SwooshL")


class SwooshR(nn.Module):
    """SwooshR(x) = log(1 + e^(x-1)) - 0.08 x - 0.313261687, any shape; backward stores only ``x``."""

    def forward(self, x: Tensor) -> Tensor:
        if not x.requires_grad:
            return _swoosh_forward(x, "SwooshR")
        return _SwooshFunction.apply(x, "SwooshR")


class _ActivationDropoutAndLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation, dropout_mask):
        ctx.save_for_backward(x, weight, dropout_mask)
        ctx.activation = activation
        ctx.has_bias = bias is not None
        y = _swoosh_forward(x, activation)
        if dropout_mask is not None:
            y = y * dropout_mask
        return nn.functional.linear(y, weight, bias)

    @staticmethod
    def backward(ctx, out_grad: Tensor):
        x, weight, dropout_mask = ctx.saved_tensors
        # Under autocast the forward may have run in half precision; the backward runs in the widest
        # of the dtypes involved and returns gradients in each input's own dtype.
        dtype = torch.promote_types(torch.promote_types(out_grad.dtype, weight.dtype), x.dtype)
        xf, w, out_grad = x.to(dtype), weight.to(dtype), out_grad.to(dtype)
        y = _swoosh_forward(xf, ctx.activation)
        deriv = _swoosh_deriv(xf, ctx.activation)
        if dropout_mask is not None:
            y = y * dropout_mask
            deriv = deriv * dropout_mask
        out_channels, in_channels = w.shape
        g = out_grad.reshape(-1, out_channels)
        weight_grad = (g.t() @ y.reshape(-1, in_channels)).to(weight.dtype)
        bias_grad = g.sum(dim=0).to(weight.dtype) if ctx.has_bias else None
        x_grad = ((out_grad @ w) * deriv).to(x.dtype)
        return x_grad, weight_grad, bias_grad, None, None


class ActivationDropoutAndLinear(nn.Module):
    """``Linear(Dropout(Swoosh(x)))`` that stores only ``x`` (and a small dropout mask) for backward.

    Shapes: x (..., in_channels) -> (..., out_channels). The dropout mask is shared along
    ``dropout_shared_dim`` (e.g. 0 = time for (T, B, C) input), as in icefall's Dropout3; ``None``
    draws an independent mask per element.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        activation: str = "SwooshL",
        dropout_p: FloatLike = 0.0,
        dropout_shared_dim: int | None = -1,
        initial_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in _SWOOSH:
            raise ValueError(f"activation must be one of {sorted(_SWOOSH)}, got {activation!r}")
        layer = ScaledLinear(in_channels, out_channels, bias=bias, initial_scale=initial_scale)
        self.weight = layer.weight
        self.register_parameter("bias", layer.bias)
        self.activation = activation
        self.dropout_p = dropout_p
        self.dropout_shared_dim = dropout_shared_dim

    def forward(self, x: Tensor) -> Tensor:
        p = float(self.dropout_p) if self.training else 0.0
        mask = None
        if p > 0.0:
            shape = list(x.shape)
            if self.dropout_shared_dim is not None:
                shape[self.dropout_shared_dim] = 1
            mask = (torch.rand(shape, device=x.device, dtype=x.dtype) > p).to(x.dtype) / (1.0 - p)
        if not torch.is_grad_enabled() or not (x.requires_grad or self.weight.requires_grad):
            y = _swoosh_forward(x, self.activation)
            if mask is not None:
                y = y * mask
            return nn.functional.linear(y, self.weight, self.bias)
        return _ActivationDropoutAndLinearFunction.apply(x, self.weight, self.bias, self.activation, mask)


class Dropout2(nn.Module):
    """Standard elementwise dropout whose rate ``p`` may be a :class:`ScheduledFloat`."""

    def __init__(self, p: FloatLike) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.dropout(x, p=float(self.p), training=self.training)


class Dropout3(nn.Module):
    """Dropout with a scheduled rate whose mask is shared along axis ``shared_dim``:
    ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` of size 1 on ``shared_dim``."""

    def __init__(self, p: FloatLike, shared_dim: int) -> None:
        super().__init__()
        self.p = p
        self.shared_dim = shared_dim

    def forward(self, x: Tensor) -> Tensor:
        p = float(self.p)
        if not self.training or p == 0.0:
            return x
        shape = list(x.shape)
        shape[self.shared_dim] = 1
        mask = (torch.rand(shape, device=x.device) > p).to(x.dtype)
        return x * mask * (1.0 / (1.0 - p))


class BiasNorm(nn.Module):
    """BiasNorm: ``y = x * (mean_c (x - b)^2)^(-1/2) * exp(log_scale)`` over the channel axis.

    ``b`` is a learned per-channel bias used only for the scale; ``log_scale`` is a learned scalar kept
    in ``[log_scale_min, log_scale_max]`` during training by :func:`limit_param_value`.
    Shapes: x (..., C, ...) with C on ``channel_dim``; output has x's shape.
    """

    def __init__(
        self,
        num_channels: int,
        channel_dim: int = -1,
        log_scale: float = 1.0,
        log_scale_min: float = -1.5,
        log_scale_max: float = 1.5,
    ) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.channel_dim = channel_dim
        self.log_scale = nn.Parameter(torch.tensor(float(log_scale)))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.log_scale_min = log_scale_min
        self.log_scale_max = log_scale_max

    def forward(self, x: Tensor) -> Tensor:
        channel_dim = self.channel_dim % x.ndim
        if x.shape[channel_dim] != self.num_channels:
            raise ValueError(
                f"BiasNorm: x has {x.shape[channel_dim]} channels on dim {channel_dim}, "
                f"expected num_channels={self.num_channels}"
            )
        bias = self.bias.reshape([-1] + [1] * (x.ndim - channel_dim - 1))
        log_scale = limit_param_value(
            self.log_scale, min=self.log_scale_min, max=self.log_scale_max, training=self.training
        )
        scales = torch.mean((x - bias) ** 2, dim=channel_dim, keepdim=True) ** -0.5 * log_scale.exp()
        return x * scales


def _abs_to_rms(x: float) -> float:
    # For Gaussian data, E|x| = a implies rms = sqrt(pi/2) * a.
    return 1.25331413732 * x


def _proportion_positive_to_mean(p: float) -> float:
    # Gaussian with P(x > 0) = p has mean/stddev = erfinv(2p - 1) * sqrt(2); icefall uses the crude
    # approximation 0.8139535143 * atanh(2p - 1), reproduced here.
    z = 2.0 * p - 1.0
    eps = 1.0e-10
    atanh = (math.log(1 + z + eps) - math.log(1 - z + eps)) / 2.0
    return 0.8139535143 * atanh


class _BalancerFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, min_mean, max_mean, min_rms, max_rms, grad_scale, channel_dim):
        ctx.save_for_backward(x)
        ctx.config = (min_mean, max_mean, min_rms, max_rms, grad_scale, channel_dim)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, x_grad: Tensor):
        (x,) = ctx.saved_tensors
        min_mean, max_mean, min_rms, max_rms, grad_scale, channel_dim = ctx.config
        with torch.enable_grad():
            xf = x.detach().to(torch.float32).requires_grad_(True)
            dims = [d for d in range(xf.ndim) if d != channel_dim]
            uncentered_var = (xf**2).mean(dim=dims, keepdim=True)
            mean = xf.mean(dim=dims, keepdim=True)
            stddev = (uncentered_var - mean * mean).clamp(min=1.0e-20).sqrt()
            rms = uncentered_var.clamp(min=1.0e-20).sqrt()
            m = mean / stddev
            m_loss = (m - m.clamp(min=min_mean, max=max_mean)).abs()
            r_loss = (rms.clamp(min=min_rms, max=max_rms) / rms).log().abs()
            loss = m_loss + r_loss
            (loss_grad,) = torch.autograd.grad(loss.sum(), xf)
        loss_grad_rms = (loss_grad**2).mean(dim=dims, keepdim=True).sqrt().clamp(min=1.0e-20)
        loss_grad = loss_grad * (grad_scale / loss_grad_rms)
        g = x_grad.to(torch.float32)
        return (g + g.abs() * loss_grad).to(x_grad.dtype), None, None, None, None, None, None


class Balancer(nn.Module):
    """Identity in forward. In backward (with probability ``prob``), adds to the gradient a term that
    pushes each channel's statistics into range: the proportion of positive values into
    ``[min_positive, max_positive]`` and the mean absolute value into ``[min_abs, max_abs]``.

    The constraints are converted to limits on mean/stddev and on the rms (as icefall does); the extra
    gradient is the gradient of ``|m - clamp(m)| + |log(clamp(rms) / rms)|`` per channel, normalised
    to rms ``grad_scale`` and multiplied elementwise by ``|x_grad|``.
    Shapes: any, with channels on ``channel_dim``.
    """

    def __init__(
        self,
        num_channels: int,
        channel_dim: int,
        min_positive: FloatLike = 0.05,
        max_positive: FloatLike = 0.95,
        min_abs: FloatLike = 0.2,
        max_abs: FloatLike = 100.0,
        grad_scale: FloatLike = 0.04,
        prob: FloatLike | None = None,
    ) -> None:
        super().__init__()
        if prob is None:
            prob = ScheduledFloat((0.0, 0.5), (8000.0, 0.125), default=0.4)
        self.prob = prob
        self.num_channels = num_channels
        self.channel_dim = channel_dim
        self.min_positive = min_positive
        self.max_positive = max_positive
        self.min_abs = min_abs
        self.max_abs = max_abs
        self.grad_scale = grad_scale

    def forward(self, x: Tensor) -> Tensor:
        if not x.requires_grad or random.random() >= float(self.prob):
            return x
        channel_dim = self.channel_dim % x.ndim
        if x.shape[channel_dim] != self.num_channels:
            raise ValueError(
                f"Balancer: x has {x.shape[channel_dim]} channels, expected {self.num_channels}"
            )
        return _BalancerFunction.apply(
            x,
            _proportion_positive_to_mean(float(self.min_positive)),
            _proportion_positive_to_mean(float(self.max_positive)),
            _abs_to_rms(float(self.min_abs)),
            _abs_to_rms(float(self.max_abs)),
            float(self.grad_scale),
            channel_dim,
        )


def whitening_metric(x: Tensor, num_groups: int) -> Tensor:
    """The whitening metric of features x (..., C) split into ``num_groups`` channel groups.

    With centred covariance ``S_g`` (per group, c = C / num_groups channels),
    ``metric = (sum_g ||S_g||_F^2 / C) / (mean_g,i S_g[i,i])^2``; it is 1 when every group's covariance
    is the same multiple of the identity and larger otherwise.
    """
    x = x.reshape(-1, x.shape[-1])
    num_frames, num_channels = x.shape
    per_group = num_channels // num_groups
    x = x.reshape(num_frames, num_groups, per_group).transpose(0, 1)
    x = x - x.mean(dim=1, keepdim=True)
    covar = torch.matmul(x.transpose(1, 2), x)
    mean_diag = torch.diagonal(covar, dim1=1, dim2=2).mean()
    mean_sq_diag = (covar**2).sum() / (num_groups * per_group)
    return mean_sq_diag / (mean_diag**2 + 1.0e-20)


class _WhiteningPenaltyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, module: Whiten) -> Tensor:
        ctx.save_for_backward(x)
        ctx.module = module
        return x.view_as(x)

    @staticmethod
    def backward(ctx, x_grad: Tensor):
        (x,) = ctx.saved_tensors
        w = ctx.module
        with torch.enable_grad():
            xf = x.detach().to(torch.float32).requires_grad_(True)
            metric = whitening_metric(xf, w.num_groups)
            if metric < float(w.whitening_limit):
                w.prob = w.min_prob
                return x_grad, None
            w.prob = w.max_prob
            (penalty_grad,) = torch.autograd.grad(metric, xf)
        scale = float(w.grad_scale) * x_grad.to(torch.float32).norm() / (penalty_grad.norm() + 1.0e-20)
        return x_grad + (penalty_grad * scale).to(x_grad.dtype), None


class Whiten(nn.Module):
    """Identity in forward. In backward (with probability ``prob``), if the :func:`whitening_metric`
    of x (..., C) exceeds ``whitening_limit``, adds the metric's gradient scaled to
    ``grad_scale * ||x_grad||``. ``prob`` may be ``(min_prob, max_prob)``: the module switches to
    ``max_prob`` after a violation and back to ``min_prob`` when the limit holds.
    """

    def __init__(
        self,
        num_groups: int,
        whitening_limit: FloatLike,
        prob: float | tuple[float, float],
        grad_scale: FloatLike,
    ) -> None:
        super().__init__()
        if num_groups < 1:
            raise ValueError(f"num_groups must be >= 1, got {num_groups}")
        if float(whitening_limit) < 1.0:
            raise ValueError(f"whitening_limit must be >= 1, got {float(whitening_limit)}")
        if isinstance(prob, (int, float)):
            prob = (float(prob), float(prob))
        if not 0 < prob[0] <= prob[1] <= 1:
            raise ValueError(f"prob must satisfy 0 < min_prob <= max_prob <= 1, got {prob}")
        self.num_groups = num_groups
        self.whitening_limit = whitening_limit
        self.grad_scale = grad_scale
        self.min_prob, self.max_prob = prob
        self.prob = self.max_prob

    def forward(self, x: Tensor) -> Tensor:
        if not x.requires_grad or random.random() > self.prob or float(self.grad_scale) == 0.0:
            return x
        if x.shape[-1] % self.num_groups != 0:
            raise ValueError(f"Whiten: {x.shape[-1]} channels not divisible by num_groups={self.num_groups}")
        return _WhiteningPenaltyFunction.apply(x, self)


def whiten_probs(model: nn.Module) -> dict[str, float]:
    """The current check probability of every :class:`Whiten` in ``model``, by module name.

    A Whiten's ``prob`` moves between ``min_prob`` and ``max_prob`` during training (set by the outcome of
    its last check) and is not a parameter or buffer, so ``state_dict()`` does not hold it: a trainer that
    resumes saves these values beside the weights and gives them back with :func:`set_whiten_probs`.
    """
    return {name: float(module.prob) for name, module in model.named_modules() if isinstance(module, Whiten)}


def set_whiten_probs(model: nn.Module, probs: dict[str, float]) -> None:
    """Restore :func:`whiten_probs` of the same architecture; a name that is not a Whiten of ``model`` is an error."""
    whitens = {name: module for name, module in model.named_modules() if isinstance(module, Whiten)}
    unknown = sorted(set(probs) - set(whitens))
    if unknown:
        raise ValueError(f"no Whiten module named {unknown[:3]} in this model ({len(unknown)} unknown names); "
                         "the saved probabilities belong to another architecture")
    for name, prob in probs.items():
        module = whitens[name]
        if not module.min_prob <= prob <= module.max_prob:
            raise ValueError(f"Whiten {name}: prob {prob} outside [{module.min_prob}, {module.max_prob}]")
        module.prob = float(prob)


def convert_num_channels(x: Tensor, num_channels: int) -> Tensor:
    """Truncate or zero-pad the last axis of x (..., C) to ``num_channels``."""
    if num_channels <= x.shape[-1]:
        return x[..., :num_channels]
    pad = torch.zeros(*x.shape[:-1], num_channels - x.shape[-1], dtype=x.dtype, device=x.device)
    return torch.cat((x, pad), dim=-1)


def depthwise_conv1d(x: Tensor, conv: nn.Conv1d, padding: int) -> Tensor:
    """Apply the depthwise ``conv`` (groups == channels) to x (B, C, T) with ``padding`` zeros on both
    sides: ``y[b, c, t] = bias[c] + sum_k w[c, 0, k] x[b, c, t + k - padding]``.

    On CPU this runs as a channels-last 2-D convolution, whose backward is several times faster than
    Conv1d's in PyTorch; the values are the same.
    """
    if x.device.type != "cpu":
        return nn.functional.conv1d(x, conv.weight, conv.bias, padding=padding, groups=conv.groups)
    x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    y = nn.functional.conv2d(x4, conv.weight.unsqueeze(2), conv.bias, padding=(0, padding), groups=conv.groups)
    return y.squeeze(2)


class ChunkCausalDepthwiseConv1d(nn.Module):
    """A depthwise Conv1d that is causal across chunks, as if under a block-triangular mask.

    ``y = causal_conv(x) + chunkwise_conv(x) * (1 + left_edge + right_edge)``: ``causal_conv`` has
    kernel ``(K + 1) // 2`` over the current and past frames (left-padded by ``K // 2``);
    ``chunkwise_conv`` has kernel K with zero padding but is applied to each chunk separately, so it
    never sees other chunks; its output is rescaled by learned per-position corrections near the chunk
    edges (``chunkwise_conv_scale``, shape (2, C, K)). Shapes: x (B, C, T) -> (B, C, T).
    """

    def __init__(self, channels: int, kernel_size: int, initial_scale: float = 1.0, bias: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.kernel_size = kernel_size
        self.causal_conv = nn.Conv1d(
            channels, channels, kernel_size=(kernel_size + 1) // 2, groups=channels, padding=0, bias=True
        )
        self.chunkwise_conv = nn.Conv1d(
            channels, channels, kernel_size=kernel_size, groups=channels, padding=kernel_size // 2, bias=bias
        )
        self.chunkwise_conv_scale = nn.Parameter(torch.zeros(2, channels, kernel_size))
        with torch.no_grad():
            self.causal_conv.weight.mul_(initial_scale)
            self.chunkwise_conv.weight.mul_(initial_scale)
            if bias:
                nn.init.uniform_(self.causal_conv.bias, -0.1 * initial_scale, 0.1 * initial_scale)

    def _chunk_scale(self, chunk_size: int) -> Tensor:
        """(C, chunk_size): 1 + left-edge correction + right-edge correction."""
        left, right = self.chunkwise_conv_scale[0], self.chunkwise_conv_scale[1]
        if chunk_size < self.kernel_size:
            left, right = left[:, :chunk_size], right[:, -chunk_size:]
        else:
            pad = left.new_zeros(left.shape[0], chunk_size - self.kernel_size)
            left, right = torch.cat((left, pad), dim=-1), torch.cat((pad, right), dim=-1)
        return 1.0 + left + right

    def forward(self, x: Tensor, chunk_size: int = -1) -> Tensor:
        """x: (B, C, T); chunk_size < 0 means one chunk covering the whole sequence.

        With chunk_size > 0 the sequence is zero-padded to whole chunks, also when it is shorter than one
        chunk: every chunk is then convolved and rescaled exactly as :meth:`streaming_forward` does with
        a zero-padded chunk of that size. (icefall convolves a sequence shorter than one chunk as a chunk of
        its own length, so there its simulated and real streaming differ in the edge scales; here they
        agree, and a traced graph does not depend on whether the trace input was shorter than a chunk.)"""
        batch, channels, seq_len = x.shape
        left_pad = self.kernel_size // 2
        if chunk_size < 0:
            chunk_size = seq_len
        right_pad = -seq_len % chunk_size
        x = nn.functional.pad(x, (left_pad, right_pad))
        x_causal = depthwise_conv1d(x[..., : left_pad + seq_len], self.causal_conv, padding=0)
        x_chunk = x[..., left_pad:]
        num_chunks = x_chunk.shape[2] // chunk_size
        x_chunk = x_chunk.reshape(batch, channels, num_chunks, chunk_size).permute(0, 2, 1, 3)
        x_chunk = x_chunk.reshape(batch * num_chunks, channels, chunk_size)
        x_chunk = depthwise_conv1d(x_chunk, self.chunkwise_conv, padding=self.kernel_size // 2)
        x_chunk = x_chunk * self._chunk_scale(chunk_size)
        x_chunk = x_chunk.reshape(batch, num_chunks, channels, chunk_size).permute(0, 2, 1, 3)
        x_chunk = x_chunk.reshape(batch, channels, num_chunks * chunk_size)[..., :seq_len]
        return x_chunk + x_causal

    def streaming_forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """One chunk: x (B, C, T_chunk), cache (B, C, K // 2) = the previous K // 2 input frames.
        Returns (y (B, C, T_chunk), new cache)."""
        left_pad = self.kernel_size // 2
        x = torch.cat((cache, x), dim=2)
        new_cache = x[..., x.shape[2] - left_pad :]
        x_causal = depthwise_conv1d(x, self.causal_conv, padding=0)
        x_chunk = depthwise_conv1d(x[..., left_pad:], self.chunkwise_conv, padding=left_pad)
        x_chunk = x_chunk * self._chunk_scale(x_chunk.shape[2])
        return x_chunk + x_causal, new_cache

