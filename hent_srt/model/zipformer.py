"""Zipformer2 encoder (Yao et al., ICLR 2024, arXiv 2310.11230), as released in icefall.

A Zipformer2 is a list of *stacks*; stack i runs ``num_encoder_layers[i]`` encoder layers of width
``encoder_dim[i]`` at 1/``downsampling_factor[i]`` of the input frame rate (downsample -> layers ->
upsample by repetition -> learned bypass with the stack input). Channels are truncated or zero-padded
between stacks; the output is the last stack's output with channels above its width taken from the
most recent stack that has them (width ``max(encoder_dim)``), optionally downsampled by 2.

Module and parameter names and the parameter counts equal those of icefall's
``zipformer/zipformer.py``, including two parameters icefall builds but never uses (kept frozen: see
``Zipformer2EncoderLayer.bypass_scale`` and ``downsample_output`` when the output is not downsampled).
Public tensors are batch-first; internally the modules work on (T, B, C), as icefall does.

Behavioural notes (where this differs from icefall):
- SimpleDownsample replaces frames past each sequence's length by its last valid frame before
  averaging, so outputs do not depend on how much padding a batch has (icefall averages padding in).
- icefall's ``const_attention_rate`` is never active (its condition requires eval mode where the rate
  is 0), so it is not reproduced.
- In eval mode chunk size and left context are never sampled: they are passed to ``forward`` or taken
  from the first entry of ``chunk_size`` / ``left_context_frames``.
- ``pos_emb_skip_rate`` defaults to 0 as in the HENT-SRT recipe (icefall's LibriSpeech recipe drops
  the positional scores with probability 0.5 -> 0 over the first 4000 batches).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hent_srt.model.scaling import (
    ActivationDropoutAndLinear,
    Balancer,
    BiasNorm,
    ChunkCausalDepthwiseConv1d,
    Dropout2,
    FloatLike,
    ScaledLinear,
    ScheduledFloat,
    Whiten,
    convert_num_channels,
    depthwise_conv1d,
    limit_param_value,
    penalize_abs_values_gt,
)

# Number of cached tensors per encoder layer in streaming mode.
STATES_PER_LAYER = 6
# Causal training: chunk sizes and left contexts (frames at 50 Hz) sampled per batch (icefall's defaults).
DEFAULT_CHUNK_SIZE = (16, 32, 64, -1)
DEFAULT_LEFT_CONTEXT_FRAMES = (64, 128, 256, -1)


def _whitening_schedule(x: float, ratio: float = 2.0) -> ScheduledFloat:
    return ScheduledFloat((0.0, x), (20000.0, ratio * x), default=x)


def _sequence_mask(x: Tensor, rate: float, training: bool) -> Tensor | None:
    """Per-sequence keep mask (1, B, 1) for x (T, B, C) dropping a sequence with probability ``rate``."""
    if rate == 0.0 or not training:
        return None
    return (torch.rand(1, x.shape[1], 1, device=x.device) > rate).to(x.dtype)


def _apply_mask(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask


def repeat_last_valid_frame(x: Tensor, key_padding_mask: Tensor | None) -> Tensor:
    """x (T, B, C), key_padding_mask (B, T) True at padding: replace each sequence's padding frames by
    its last valid frame (padding is at the end; an all-padding sequence repeats its first frame)."""
    if key_padding_mask is None:
        return x
    seq_len = x.shape[0]
    lengths = (~key_padding_mask).sum(dim=1)
    last = (lengths - 1).clamp(min=0)
    index = torch.minimum(torch.arange(seq_len, device=x.device).unsqueeze(1), last.unsqueeze(0))
    return torch.gather(x, 0, index.unsqueeze(-1).expand_as(x))


class FeedforwardModule(nn.Module):
    """y = Linear_out(Dropout(SwooshL(Linear_in(x)))), x (T, B, C) -> (T, B, C); out init scale 0.1,
    dropout mask shared over time."""

    def __init__(self, embed_dim: int, feedforward_dim: int, dropout: FloatLike) -> None:
        super().__init__()
        self.in_proj = nn.Linear(embed_dim, feedforward_dim)
        self.hidden_balancer = Balancer(
            feedforward_dim, channel_dim=-1, min_positive=0.3, max_positive=1.0, min_abs=0.75, max_abs=5.0
        )
        self.out_proj = ActivationDropoutAndLinear(
            feedforward_dim,
            embed_dim,
            activation="SwooshL",
            dropout_p=dropout,
            dropout_shared_dim=0,
            bias=True,
            initial_scale=0.1,
        )
        self.out_whiten = Whiten(
            num_groups=1, whitening_limit=_whitening_schedule(7.5), prob=(0.025, 0.25), grad_scale=0.01
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.hidden_balancer(self.in_proj(x))
        return self.out_whiten(self.out_proj(x))


class NonlinAttention(nn.Module):
    """Attention-weighted gated mixing: with (s, x, y) = in_proj(x) (each ``hidden_channels`` wide),
    ``out = out_proj((W @ (x * tanh(s))) * y)`` where W (1, B, T, T_k) are head-0 attention weights.
    Shapes: x (T, B, C) -> (T, B, C)."""

    def __init__(self, channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.in_proj = nn.Linear(channels, hidden_channels * 3, bias=True)
        self.balancer = Balancer(
            hidden_channels,
            channel_dim=-1,
            min_positive=ScheduledFloat((0.0, 0.25), (20000.0, 0.05)),
            max_positive=ScheduledFloat((0.0, 0.75), (20000.0, 0.95)),
            min_abs=0.5,
            max_abs=5.0,
        )
        self.tanh = nn.Tanh()
        self.out_proj = ScaledLinear(hidden_channels, channels, bias=True, initial_scale=0.05)
        self.whiten1 = Whiten(
            num_groups=1, whitening_limit=_whitening_schedule(5.0), prob=(0.025, 0.25), grad_scale=0.01
        )
        self.whiten2 = Whiten(
            num_groups=1,
            whitening_limit=_whitening_schedule(5.0, ratio=3.0),
            prob=(0.025, 0.25),
            grad_scale=0.01,
        )

    def _gated_input(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, x, y = self.in_proj(x).chunk(3, dim=-1)
        s = self.tanh(self.balancer(s))
        return self.whiten1(x) * s, y

    def _mix(self, x: Tensor, y: Tensor, attn_weights: Tensor, seq_len: int, batch: int) -> Tensor:
        x = torch.matmul(attn_weights, x)
        x = x.permute(2, 1, 0, 3).reshape(seq_len, batch, -1)
        return self.whiten2(self.out_proj(x * y))

    def forward(self, x: Tensor, attn_weights: Tensor) -> Tensor:
        """x (T, B, C), attn_weights (1, B, T, T) -> (T, B, C)."""
        seq_len, batch, _ = x.shape
        x, y = self._gated_input(x)
        x = x.reshape(seq_len, batch, attn_weights.shape[0], -1).permute(2, 1, 0, 3)
        return self._mix(x, y, attn_weights, seq_len, batch)

    def streaming_forward(self, x: Tensor, attn_weights: Tensor, cached_x: Tensor) -> tuple[Tensor, Tensor]:
        """x (T, B, C), attn_weights (1, B, T, L + T), cached_x (1, B, L, hidden) -> (out, new cache)."""
        seq_len, batch, _ = x.shape
        left = cached_x.shape[2]
        x, y = self._gated_input(x)
        x = x.reshape(seq_len, batch, attn_weights.shape[0], -1).permute(2, 1, 0, 3)
        x = torch.cat((cached_x, x), dim=2)
        new_cache = x[:, :, x.shape[2] - left :]
        return self._mix(x, y, attn_weights, seq_len, batch), new_cache


class ConvolutionModule(nn.Module):
    """x (T, B, C) -> (T, B, C): (x, s) = in_proj(x); x * sigmoid(s); depthwise conv over time
    (chunk-causal when ``causal``); then Linear(SwooshR(.)) with init scale 0.05."""

    def __init__(self, channels: int, kernel_size: int, causal: bool) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"cnn_module_kernel must be odd, got {kernel_size}")
        self.causal = causal
        self.in_proj = nn.Linear(channels, 2 * channels)
        self.balancer1 = Balancer(
            channels,
            channel_dim=-1,
            min_positive=ScheduledFloat((0.0, 0.05), (8000.0, 0.025)),
            max_positive=1.0,
            min_abs=1.5,
            max_abs=ScheduledFloat((0.0, 5.0), (8000.0, 10.0), default=1.0),
        )
        self.sigmoid = nn.Sigmoid()
        if causal:
            self.depthwise_conv = ChunkCausalDepthwiseConv1d(channels, kernel_size)
        else:
            self.depthwise_conv = nn.Conv1d(
                channels, channels, groups=channels, kernel_size=kernel_size, padding=kernel_size // 2
            )
        self.balancer2 = Balancer(
            channels,
            channel_dim=1,
            min_positive=ScheduledFloat((0.0, 0.1), (8000.0, 0.05)),
            max_positive=1.0,
            min_abs=ScheduledFloat((0.0, 0.2), (20000.0, 0.5)),
            max_abs=10.0,
        )
        self.whiten = Whiten(
            num_groups=1, whitening_limit=_whitening_schedule(7.5), prob=(0.025, 0.25), grad_scale=0.01
        )
        self.out_proj = ActivationDropoutAndLinear(
            channels, channels, activation="SwooshR", dropout_p=0.0, initial_scale=0.05
        )

    def _gate(self, x: Tensor, src_key_padding_mask: Tensor | None) -> Tensor:
        """(T, B, C) -> gated (B, C, T) with padding frames zeroed."""
        x, s = self.in_proj(x).chunk(2, dim=-1)
        x = x * self.sigmoid(self.balancer1(s))
        x = x.permute(1, 2, 0)
        if src_key_padding_mask is not None:
            x = x.masked_fill(src_key_padding_mask.unsqueeze(1), 0.0)
        return x

    def forward(
        self, x: Tensor, src_key_padding_mask: Tensor | None = None, chunk_size: int = -1
    ) -> Tensor:
        """x (T, B, C); src_key_padding_mask (B, T) True at padding; chunk_size >= 0 needs causal."""
        x = self._gate(x, src_key_padding_mask)
        if chunk_size >= 0:
            if not self.causal:
                raise ValueError("chunk_size needs a model built with causal=True")
            x = self.depthwise_conv(x, chunk_size=chunk_size)
        elif self.causal:
            x = self.depthwise_conv(x)
        else:
            x = depthwise_conv1d(x, self.depthwise_conv, padding=self.depthwise_conv.padding[0])
        x = self.balancer2(x).permute(2, 0, 1)
        return self.out_proj(self.whiten(x))

    def streaming_forward(
        self, x: Tensor, cache: Tensor, src_key_padding_mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One chunk: x (T, B, C), cache (B, C, kernel // 2) -> (out (T, B, C), new cache)."""
        x = self._gate(x, src_key_padding_mask)
        x, cache = self.depthwise_conv.streaming_forward(x, cache=cache)
        return self.out_proj(x.permute(2, 0, 1)), cache


class CompactRelPositionalEncoding(nn.Module):
    """Relative positional embedding for offsets d: with c = sqrt(D) and D = embed_dim,
    ``u = atan(c * sign(d) * log((|d| + c) / c) / (length_factor * D / 2pi))``, the row is
    ``[cos(u), sin(u), cos(2u), sin(2u), ..., 1]`` (the last entry replaced by 1 as a bias).

    ``forward(x (T, B, C), left_context_len=L)`` returns (1, L + 2T - 1, D) for offsets
    ``-(L + T - 1) .. T - 1`` (key position minus query position), after dropout.
    """

    def __init__(self, embed_dim: int, dropout_rate: FloatLike, length_factor: float = 1.0) -> None:
        super().__init__()
        if embed_dim % 2 != 0:
            raise ValueError(f"pos_dim must be even, got {embed_dim}")
        if length_factor < 1.0:
            raise ValueError(f"length_factor must be >= 1, got {length_factor}")
        self.embed_dim = embed_dim
        self.length_factor = length_factor
        self.dropout = Dropout2(dropout_rate)

    def embedding(self, offsets: Tensor) -> Tensor:
        """offsets (N,) -> (N, embed_dim) in float32."""
        d = offsets.to(torch.float32).unsqueeze(1)
        c = self.embed_dim**0.5
        compressed = c * d.sign() * ((d.abs() + c).log() - math.log(c))
        length_scale = self.length_factor * self.embed_dim / (2.0 * math.pi)
        u = (compressed / length_scale).atan()
        freqs = 1 + torch.arange(self.embed_dim // 2, device=offsets.device)
        pe = torch.zeros(offsets.shape[0], self.embed_dim, device=offsets.device)
        pe[:, 0::2] = (u * freqs).cos()
        pe[:, 1::2] = (u * freqs).sin()
        pe[:, -1] = 1.0
        return pe

    def forward(self, x: Tensor, left_context_len: int = 0) -> Tensor:
        seq_len = x.shape[0]
        offsets = torch.arange(-(seq_len + left_context_len - 1), seq_len, device=x.device)
        pos_emb = self.embedding(offsets).to(x.dtype).unsqueeze(0)
        return self.dropout(pos_emb)


def rel_shift_strided(pos_scores: Tensor, num_keys: int) -> Tensor:
    """pos_scores (H, B, T, N) indexed by relative offset -> (H, B, T, num_keys) with
    ``out[..., i, j] = pos_scores[..., i, T - 1 - i + j]`` (offset j - i, or j - L - i with L cached
    keys), as icefall's ``as_strided`` expression (a view: no copy)."""
    h, b, t, _ = pos_scores.shape
    pos_scores = pos_scores.contiguous()
    s0, s1, s2, s3 = pos_scores.stride()
    return pos_scores.as_strided((h, b, t, num_keys), (s0, s1, s2 - s3, s3), storage_offset=s3 * (t - 1))


def rel_shift_gather(pos_scores: Tensor, num_keys: int) -> Tensor:
    """The values of :func:`rel_shift_strided` computed with ``gather``: its indices are tensors built from the
    input's shape, so a traced graph (TorchScript, ONNX) follows the input length, whereas a trace of
    ``as_strided`` bakes in the strides of the traced length."""
    heads, batch, seq_len, _ = pos_scores.shape
    rows = torch.arange(seq_len - 1, -1, -1, device=pos_scores.device).unsqueeze(1)
    cols = torch.arange(num_keys, device=pos_scores.device).unsqueeze(0)
    index = (rows + cols).expand(heads, batch, seq_len, num_keys)
    return torch.gather(pos_scores, 3, index)


REL_SHIFTS = {"strided": rel_shift_strided, "gather": rel_shift_gather}


class RelPositionMultiheadAttentionWeights(nn.Module):
    """Attention weights with relative positions, shared by all attention-like modules of a layer.

    in_proj gives queries q and keys k (``query_head_dim`` per head, init scale query_head_dim^-1/4)
    and positional queries p (``pos_head_dim`` per head). With P = linear_pos(pos_emb),
    ``score[h, b, i, j] = q_i . k_j + p_i . P[offset(j - i)]``; masked positions are set to -1000;
    weights = softmax over j. Shapes: x (T, B, C) -> (H, B, T, T_keys). ``rel_shift`` names the function that
    turns scores by offset into scores by key (:data:`REL_SHIFTS`; same values, "gather" for tracing).
    """

    def __init__(
        self,
        embed_dim: int,
        pos_dim: int,
        num_heads: int,
        query_head_dim: int,
        pos_head_dim: int,
        dropout: float = 0.0,
        pos_emb_skip_rate: FloatLike = 0.0,
        rel_shift: str = "strided",
    ) -> None:
        super().__init__()
        if rel_shift not in REL_SHIFTS:
            raise ValueError(f"rel_shift must be one of {sorted(REL_SHIFTS)}, got {rel_shift!r}")
        self.embed_dim = embed_dim
        self.rel_shift = rel_shift
        self.num_heads = num_heads
        self.query_head_dim = query_head_dim
        self.pos_head_dim = pos_head_dim
        self.dropout = dropout
        self.pos_emb_skip_rate = copy.deepcopy(pos_emb_skip_rate)
        in_proj_dim = (2 * query_head_dim + pos_head_dim) * num_heads
        self.in_proj = ScaledLinear(embed_dim, in_proj_dim, bias=True, initial_scale=query_head_dim**-0.25)
        self.whiten_keys = Whiten(
            num_groups=num_heads, whitening_limit=_whitening_schedule(3.0), prob=(0.025, 0.25), grad_scale=0.025
        )
        self.balance_keys = Balancer(
            query_head_dim * num_heads,
            channel_dim=-1,
            min_positive=0.4,
            max_positive=0.6,
            min_abs=0.0,
            max_abs=100.0,
            prob=0.025,
        )
        self.linear_pos = ScaledLinear(pos_dim, num_heads * pos_head_dim, bias=False, initial_scale=0.05)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (T, B, C) -> q (T, B, H*dq), k (T, B, H*dq), p (T, B, H*dp)."""
        x = self.in_proj(x)
        query_dim = self.query_head_dim * self.num_heads
        q = x[..., :query_dim]
        k = self.whiten_keys(self.balance_keys(x[..., query_dim : 2 * query_dim]))
        p = x[..., 2 * query_dim :]
        return q, k, p

    def _weights(
        self,
        q: Tensor,
        k: Tensor,
        p: Tensor,
        pos_emb: Tensor,
        key_padding_mask: Tensor | None,
        attn_mask: Tensor | None,
    ) -> Tensor:
        seq_len, batch, _ = q.shape
        num_keys = k.shape[0]
        h = self.num_heads
        q = q.reshape(seq_len, batch, h, self.query_head_dim).permute(2, 1, 0, 3)
        p = p.reshape(seq_len, batch, h, self.pos_head_dim).permute(2, 1, 0, 3)
        k = k.reshape(num_keys, batch, h, self.query_head_dim).permute(2, 1, 3, 0)
        scores = torch.matmul(q, k)
        use_pos = not self.training or random.random() >= float(self.pos_emb_skip_rate)
        if use_pos:
            pos = self.linear_pos(pos_emb)
            pos = pos.reshape(pos.shape[0], pos.shape[1], h, self.pos_head_dim).permute(2, 0, 3, 1)
            scores = scores + REL_SHIFTS[self.rel_shift](torch.matmul(p, pos), num_keys)
        if self.training and random.random() < 0.1:
            scores = penalize_abs_values_gt(scores, limit=25.0, penalty=1.0e-04)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask, -1000.0)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask.unsqueeze(1), -1000.0)
        weights = scores.softmax(dim=-1)
        return nn.functional.dropout(weights, p=self.dropout, training=self.training)

    def forward(
        self,
        x: Tensor,
        pos_emb: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor:
        """x (T, B, C), pos_emb (1, 2T - 1, pos_dim), key_padding_mask (B, T), attn_mask (T, T)
        (True = masked) -> weights (H, B, T, T)."""
        q, k, p = self._project(x)
        return self._weights(q, k, p, pos_emb, key_padding_mask, attn_mask)

    def streaming_forward(
        self, x: Tensor, pos_emb: Tensor, cached_key: Tensor, key_padding_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """x (T, B, C), pos_emb (1, L + 2T - 1, pos_dim), cached_key (L, B, H*dq), key_padding_mask
        (B, L + T) -> (weights (H, B, T, L + T), new cached_key)."""
        q, k, p = self._project(x)
        left = cached_key.shape[0]
        k = torch.cat((cached_key, k), dim=0)
        new_cache = k[k.shape[0] - left :]
        return self._weights(q, k, p, pos_emb, key_padding_mask, None), new_cache


class SelfAttention(nn.Module):
    """Values (``value_head_dim`` per head) mixed by given attention weights, then out_proj (init 0.05).
    x (T, B, C), weights (H, B, T, T_keys) -> (T, B, C)."""

    def __init__(self, embed_dim: int, num_heads: int, value_head_dim: int) -> None:
        super().__init__()
        self.in_proj = nn.Linear(embed_dim, num_heads * value_head_dim, bias=True)
        self.out_proj = ScaledLinear(num_heads * value_head_dim, embed_dim, bias=True, initial_scale=0.05)
        self.whiten = Whiten(
            num_groups=1,
            whitening_limit=_whitening_schedule(7.5, ratio=3.0),
            prob=(0.025, 0.25),
            grad_scale=0.01,
        )

    def _attend(self, v: Tensor, attn_weights: Tensor, seq_len: int) -> Tensor:
        num_heads, batch = attn_weights.shape[:2]
        v = v.reshape(v.shape[0], batch, num_heads, -1).permute(2, 1, 0, 3)
        x = torch.matmul(attn_weights, v)
        x = x.permute(2, 1, 0, 3).reshape(seq_len, batch, -1)
        return self.whiten(self.out_proj(x))

    def forward(self, x: Tensor, attn_weights: Tensor) -> Tensor:
        return self._attend(self.in_proj(x), attn_weights, x.shape[0])

    def streaming_forward(self, x: Tensor, attn_weights: Tensor, cached_val: Tensor) -> tuple[Tensor, Tensor]:
        """cached_val (L, B, H*dv) -> (out (T, B, C), new cache)."""
        left = cached_val.shape[0]
        v = torch.cat((cached_val, self.in_proj(x)), dim=0)
        new_cache = v[v.shape[0] - left :]
        return self._attend(v, attn_weights, x.shape[0]), new_cache


class BypassModule(nn.Module):
    """``out = orig + (new - orig) * scale`` with a learned per-channel scale (init 0.5).

    In training the scale is kept in ``[scale_min, scale_max]`` by :func:`limit_param_value`
    (scale_min 0.9 -> 0.2 over 20k batches) and set to 0 for a random ``skip_rate`` fraction of
    sequences (layer skipping).
    """

    def __init__(
        self,
        embed_dim: int,
        skip_rate: FloatLike = 0.0,
        scale_min: FloatLike | None = None,
        scale_max: FloatLike = 1.0,
    ) -> None:
        super().__init__()
        self.bypass_scale = nn.Parameter(torch.full((embed_dim,), 0.5))
        self.skip_rate = copy.deepcopy(skip_rate)
        if scale_min is None:
            scale_min = ScheduledFloat((0.0, 0.9), (20000.0, 0.2), default=0.0)
        self.scale_min = scale_min
        self.scale_max = scale_max

    def _scale(self, batch: int) -> Tensor:
        if not self.training:
            return self.bypass_scale
        scale = limit_param_value(self.bypass_scale, min=float(self.scale_min), max=float(self.scale_max))
        skip_rate = float(self.skip_rate)
        if skip_rate != 0.0:
            keep = torch.rand((batch, 1), device=scale.device) > skip_rate
            scale = scale * keep
        return scale

    def forward(self, src_orig: Tensor, src: Tensor) -> Tensor:
        """src_orig, src: (T, B, C) -> (T, B, C)."""
        return src_orig + (src - src_orig) * self._scale(src.shape[1])


class Zipformer2EncoderLayer(nn.Module):
    """One Zipformer2 layer, x (T, B, C) -> (T, B, C):

    w = attention weights(x); x += FF1(x) (hidden 3/4 ff); x += NonlinAttention(x, w[0:1]);
    x += SelfAttn1(x, w); x += Conv1(x); x += FF2(x); x = bypass_mid(x_orig, x); x += SelfAttn2(x, w);
    x += Conv2(x); x += FF3(x) (hidden 5/4 ff); x = BiasNorm(x); x = bypass(x_orig, x).
    In training, attention/conv/FF2/FF3 outputs are dropped per sequence with scheduled rates.
    """

    def __init__(
        self,
        embed_dim: int,
        pos_dim: int,
        num_heads: int,
        query_head_dim: int,
        pos_head_dim: int,
        value_head_dim: int,
        feedforward_dim: int,
        dropout: FloatLike = 0.1,
        cnn_module_kernel: int = 31,
        causal: bool = False,
        pos_emb_skip_rate: FloatLike = 0.0,
        rel_shift: str = "strided",
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.bypass = BypassModule(
            embed_dim, skip_rate=ScheduledFloat((0.0, 0.5), (4000.0, 0.02), default=0.0)
        )
        self.bypass_mid = BypassModule(embed_dim)
        self.attention_skip_rate = ScheduledFloat((0.0, 0.2), (4000.0, 0.05), (16000.0, 0.0), default=0.0)
        self.conv_skip_rate = ScheduledFloat((0.0, 0.2), (4000.0, 0.05), (16000.0, 0.0), default=0.0)
        self.ff2_skip_rate = ScheduledFloat((0.0, 0.1), (4000.0, 0.01), (50000.0, 0.0))
        self.ff3_skip_rate = ScheduledFloat((0.0, 0.1), (4000.0, 0.01), (50000.0, 0.0))
        self.self_attn_weights = RelPositionMultiheadAttentionWeights(
            embed_dim,
            pos_dim=pos_dim,
            num_heads=num_heads,
            query_head_dim=query_head_dim,
            pos_head_dim=pos_head_dim,
            dropout=0.0,
            pos_emb_skip_rate=pos_emb_skip_rate,
            rel_shift=rel_shift,
        )
        self.self_attn1 = SelfAttention(embed_dim, num_heads, value_head_dim)
        self.self_attn2 = SelfAttention(embed_dim, num_heads, value_head_dim)
        self.feed_forward1 = FeedforwardModule(embed_dim, (feedforward_dim * 3) // 4, dropout)
        self.feed_forward2 = FeedforwardModule(embed_dim, feedforward_dim, dropout)
        self.feed_forward3 = FeedforwardModule(embed_dim, (feedforward_dim * 5) // 4, dropout)
        self.nonlin_attention = NonlinAttention(embed_dim, hidden_channels=3 * embed_dim // 4)
        self.conv_module1 = ConvolutionModule(embed_dim, cnn_module_kernel, causal=causal)
        self.conv_module2 = ConvolutionModule(embed_dim, cnn_module_kernel, causal=causal)
        # icefall's layer holds this unused parameter (marked there for removal); it is kept, frozen, so that
        # parameter counts and checkpoints match the released models.
        self.bypass_scale = nn.Parameter(torch.full((embed_dim,), 0.5), requires_grad=False)
        self.norm = BiasNorm(embed_dim)
        self.balancer1 = Balancer(
            embed_dim, channel_dim=-1, min_positive=0.45, max_positive=0.55, min_abs=0.2, max_abs=4.0
        )
        self.balancer_na = Balancer(
            embed_dim,
            channel_dim=-1,
            min_positive=0.3,
            max_positive=0.7,
            min_abs=ScheduledFloat((0.0, 0.004), (4000.0, 0.02)),
            prob=0.05,
        )
        self.balancer_ff2 = Balancer(
            embed_dim,
            channel_dim=-1,
            min_positive=0.3,
            max_positive=0.7,
            min_abs=ScheduledFloat((0.0, 0.0), (4000.0, 0.1), default=0.0),
            max_abs=2.0,
            prob=0.05,
        )
        self.balancer_ff3 = Balancer(
            embed_dim,
            channel_dim=-1,
            min_positive=0.3,
            max_positive=0.7,
            min_abs=ScheduledFloat((0.0, 0.0), (4000.0, 0.2), default=0.0),
            max_abs=4.0,
            prob=0.05,
        )
        self.whiten = Whiten(
            num_groups=1,
            whitening_limit=_whitening_schedule(4.0, ratio=3.0),
            prob=(0.025, 0.25),
            grad_scale=0.01,
        )
        self.balancer2 = Balancer(
            embed_dim, channel_dim=-1, min_positive=0.45, max_positive=0.55, min_abs=0.1, max_abs=4.0
        )

    def forward(
        self,
        src: Tensor,
        pos_emb: Tensor,
        chunk_size: int = -1,
        attn_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """src (T, B, C), pos_emb (1, 2T - 1, pos_dim), attn_mask (T, T), src_key_padding_mask (B, T)."""
        src_orig = src
        training = self.training
        attn_keep = _sequence_mask(src, float(self.attention_skip_rate), training)
        attn_weights = self.self_attn_weights(
            src, pos_emb=pos_emb, attn_mask=attn_mask, key_padding_mask=src_key_padding_mask
        )
        src = src + self.feed_forward1(src)
        na = self.balancer_na(self.nonlin_attention(src, attn_weights[0:1]))
        src = src + _apply_mask(na, attn_keep)
        src = src + _apply_mask(self.self_attn1(src, attn_weights), attn_keep)
        conv = self.conv_module1(src, chunk_size=chunk_size, src_key_padding_mask=src_key_padding_mask)
        src = src + _apply_mask(conv, _sequence_mask(src, float(self.conv_skip_rate), training))
        ff2 = self.balancer_ff2(self.feed_forward2(src))
        src = src + _apply_mask(ff2, _sequence_mask(src, float(self.ff2_skip_rate), training))
        src = self.bypass_mid(src_orig, src)
        src = src + _apply_mask(self.self_attn2(src, attn_weights), attn_keep)
        conv = self.conv_module2(src, chunk_size=chunk_size, src_key_padding_mask=src_key_padding_mask)
        src = src + _apply_mask(conv, _sequence_mask(src, float(self.conv_skip_rate), training))
        ff3 = self.balancer_ff3(self.feed_forward3(src))
        src = src + _apply_mask(ff3, _sequence_mask(src, float(self.ff3_skip_rate), training))
        src = self.norm(self.balancer1(src))
        src = self.bypass(src_orig, src)
        return self.whiten(self.balancer2(src))

    def streaming_forward(
        self, src: Tensor, pos_emb: Tensor, states: Sequence[Tensor], src_key_padding_mask: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """One chunk (inference). src (T, B, C); pos_emb (1, L + 2T - 1, pos_dim); states =
        (cached_key (L, B, H*dq), cached_nonlin_attn (1, B, L, 3C/4), cached_val1 (L, B, H*dv),
        cached_val2, cached_conv1 (B, C, K//2), cached_conv2); src_key_padding_mask (B, L + T)."""
        cached_key, cached_na, cached_val1, cached_val2, cached_conv1, cached_conv2 = states
        left = cached_key.shape[0]
        chunk_mask = src_key_padding_mask[:, left:]
        src_orig = src
        attn_weights, cached_key = self.self_attn_weights.streaming_forward(
            src, pos_emb=pos_emb, cached_key=cached_key, key_padding_mask=src_key_padding_mask
        )
        src = src + self.feed_forward1(src)
        na, cached_na = self.nonlin_attention.streaming_forward(src, attn_weights[0:1], cached_na)
        src = src + na
        attn, cached_val1 = self.self_attn1.streaming_forward(src, attn_weights, cached_val1)
        src = src + attn
        conv, cached_conv1 = self.conv_module1.streaming_forward(src, cached_conv1, chunk_mask)
        src = src + conv
        src = src + self.feed_forward2(src)
        src = self.bypass_mid(src_orig, src)
        attn, cached_val2 = self.self_attn2.streaming_forward(src, attn_weights, cached_val2)
        src = src + attn
        conv, cached_conv2 = self.conv_module2.streaming_forward(src, cached_conv2, chunk_mask)
        src = src + conv
        src = src + self.feed_forward3(src)
        src = self.bypass(src_orig, self.norm(src))
        return src, [cached_key, cached_na, cached_val1, cached_val2, cached_conv1, cached_conv2]


class Zipformer2Encoder(nn.Module):
    """``num_layers`` copies of a layer (identical initial weights, as icefall's deepcopy) with a
    positional encoding; each layer's bypass skip rate falls from ``initial_layerdrop_rate`` to
    ``final_layerdrop_rate`` over its share of ``[warmup_begin, warmup_end]`` batches.
    x (T, B, C) -> (T, B, C); ``feature_mask`` multiplies the input and every layer's output."""

    def __init__(
        self,
        encoder_layer: Zipformer2EncoderLayer,
        num_layers: int,
        pos_dim: int,
        warmup_begin: float,
        warmup_end: float,
        initial_layerdrop_rate: float = 0.5,
        final_layerdrop_rate: float = 0.05,
    ) -> None:
        super().__init__()
        self.encoder_pos = CompactRelPositionalEncoding(pos_dim, dropout_rate=0.15, length_factor=1.0)
        self.layers = nn.ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        delta = (warmup_end - warmup_begin) / num_layers
        begin = warmup_begin
        for layer in self.layers:
            layer.bypass.skip_rate = ScheduledFloat(
                (begin, initial_layerdrop_rate), (begin + delta, final_layerdrop_rate), default=0.0
            )
            begin += delta

    def forward(
        self,
        src: Tensor,
        chunk_size: int = -1,
        feature_mask: Tensor | float = 1.0,
        attn_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        pos_emb = self.encoder_pos(src)
        out = src * feature_mask
        for layer in self.layers:
            out = layer(
                out, pos_emb, chunk_size=chunk_size, attn_mask=attn_mask, src_key_padding_mask=src_key_padding_mask
            )
            out = out * feature_mask
        return out

    def streaming_forward(
        self, src: Tensor, states: Sequence[Tensor], src_key_padding_mask: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """states: STATES_PER_LAYER tensors per layer; src_key_padding_mask (B, L + T)."""
        left = states[0].shape[0]
        pos_emb = self.encoder_pos(src, left_context_len=left)
        new_states: list[Tensor] = []
        out = src
        for i, layer in enumerate(self.layers):
            layer_states = states[i * STATES_PER_LAYER : (i + 1) * STATES_PER_LAYER]
            out, layer_states = layer.streaming_forward(out, pos_emb, layer_states, src_key_padding_mask)
            new_states.extend(layer_states)
        return out, new_states


class SimpleDownsample(nn.Module):
    """(T, B, C) -> (ceil(T / ds), B, C): each output frame is a weighted sum of ``ds`` consecutive
    frames with weights softmax(bias); the end is padded by repeating the last frame. With a padding
    mask (B, T), each sequence's padding is first replaced by its last valid frame."""

    def __init__(self, downsample: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(downsample))
        self.downsample = downsample

    def forward(self, src: Tensor, src_key_padding_mask: Tensor | None = None) -> Tensor:
        ds = self.downsample
        src = repeat_last_valid_frame(src, src_key_padding_mask)
        seq_len, batch, channels = src.shape
        out_len = (seq_len + ds - 1) // ds
        pad = out_len * ds - seq_len
        if pad > 0:
            src = torch.cat((src, src[-1:].expand(pad, batch, channels)), dim=0)
        src = src.reshape(out_len, ds, batch, channels)
        weights = self.bias.softmax(dim=0).reshape(1, ds, 1, 1)
        return (src * weights).sum(dim=1)


class SimpleUpsample(nn.Module):
    """(T, B, C) -> (T * upsample, B, C) by repeating each frame."""

    def __init__(self, upsample: int) -> None:
        super().__init__()
        self.upsample = upsample

    def forward(self, src: Tensor) -> Tensor:
        seq_len, batch, channels = src.shape
        src = src.unsqueeze(1).expand(seq_len, self.upsample, batch, channels)
        return src.reshape(seq_len * self.upsample, batch, channels)


class DownsampledZipformer2Encoder(nn.Module):
    """A stack run at 1/``downsample`` of the input rate: out = out_combiner(x, up(encoder(down(x)))).
    x (T, B, C) -> (T, B, C); masks are given at the input rate."""

    def __init__(self, encoder: Zipformer2Encoder, dim: int, downsample: int) -> None:
        super().__init__()
        self.downsample_factor = downsample
        self.downsample = SimpleDownsample(downsample)
        self.num_layers = encoder.num_layers
        self.encoder = encoder
        self.upsample = SimpleUpsample(downsample)
        self.out_combiner = BypassModule(dim)

    def forward(
        self,
        src: Tensor,
        chunk_size: int = -1,
        feature_mask: Tensor | float = 1.0,
        attn_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        ds = self.downsample_factor
        src_orig = src
        src = self.downsample(src, src_key_padding_mask)
        src = self.encoder(
            src,
            chunk_size=chunk_size // ds if chunk_size > 0 else chunk_size,
            feature_mask=feature_mask,
            attn_mask=None if attn_mask is None else attn_mask[::ds, ::ds],
            src_key_padding_mask=None if src_key_padding_mask is None else src_key_padding_mask[:, ::ds],
        )
        src = self.upsample(src)[: src_orig.shape[0]]
        return self.out_combiner(src_orig, src)

    def streaming_forward(
        self, src: Tensor, states: Sequence[Tensor], src_key_padding_mask: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """src (T, B, C); src_key_padding_mask (B, L + T) at the input rate (L = cached input frames)."""
        ds = self.downsample_factor
        left = src_key_padding_mask.shape[1] - src.shape[0]
        src_orig = src
        src = self.downsample(src, src_key_padding_mask[:, left:])
        src, new_states = self.encoder.streaming_forward(src, states, src_key_padding_mask[:, ::ds])
        src = self.upsample(src)[: src_orig.shape[0]]
        return self.out_combiner(src_orig, src), new_states


def _to_tuple(value: int | Sequence[int], length: int, name: str) -> tuple[int, ...]:
    """Expand an int (or a 1-element sequence) to ``length`` entries; check a longer sequence."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    value = tuple(value)
    if len(value) == 0 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name}: expected an int or a list of ints, got {value}")
    if len(value) == 1:
        return value * length
    if len(value) != length:
        raise ValueError(
            f"{name}: has {len(value)} entries but downsampling_factor defines {length} stacks; "
            "give one value or one per stack"
        )
    return value


class Zipformer2(nn.Module):
    """Zipformer2 encoder. Input (B, T, input_dim) at the front end's rate (about 50 Hz).

    The defaults build the published HENT-SRT ASR encoder (33,818,782 parameters).

    Args (icefall names; an int is used for every stack, a list gives one value per stack):
        input_dim: channels of the input x (converted to ``encoder_dim[0]`` by truncation or zeros).
        output_downsampling_factor: 1 or 2; the output rate is the input rate divided by it.
        downsampling_factor: one factor per stack (its length is the number of stacks).
        encoder_dim, num_encoder_layers, encoder_unmasked_dim, query_head_dim, pos_head_dim,
        value_head_dim, num_heads, feedforward_dim, cnn_module_kernel: per stack.
        pos_dim: positional-embedding dimension (even).
        dropout: dropout rate (default 0.3 -> 0.1 over 20k batches).
        warmup_batches: layer-skip warm-up length in batches.
        causal: chunk-causal attention masks and convolutions; enables chunked and streaming use.
        chunk_size, left_context_frames: lists (frames at the input rate) sampled per batch in
            training; -1 means no chunking / unlimited left context. Default for a causal model:
            (16, 32, 64, -1) and (64, 128, 256, -1); (-1,) otherwise.
        pos_emb_skip_rate: probability of dropping the positional scores in training (0 in HENT-SRT).
        rel_shift: "strided" (icefall's ``as_strided``, the default) or "gather" (the same values with
            indices that a trace follows for every length; for TorchScript/ONNX export), see
            :meth:`set_rel_shift`.
    """

    def __init__(
        self,
        input_dim: int | None = None,
        output_downsampling_factor: int = 2,
        downsampling_factor: Sequence[int] = (1, 2, 4, 8, 4),
        encoder_dim: int | Sequence[int] = (192, 256, 384, 512, 384),
        num_encoder_layers: int | Sequence[int] = 2,
        encoder_unmasked_dim: int | Sequence[int] = (192, 192, 256, 256, 256),
        query_head_dim: int | Sequence[int] = 32,
        pos_head_dim: int | Sequence[int] = 4,
        value_head_dim: int | Sequence[int] = 12,
        num_heads: int | Sequence[int] = (4, 4, 4, 8, 8),
        feedforward_dim: int | Sequence[int] = (512, 768, 1024, 1024, 1024),
        cnn_module_kernel: int | Sequence[int] = (31, 31, 15, 15, 15),
        pos_dim: int = 48,
        dropout: FloatLike | None = None,
        warmup_batches: float = 4000.0,
        causal: bool = False,
        chunk_size: Sequence[int] | None = None,
        left_context_frames: Sequence[int] | None = None,
        pos_emb_skip_rate: FloatLike = 0.0,
        rel_shift: str = "strided",
    ) -> None:
        super().__init__()
        downsampling_factor = tuple(downsampling_factor) if not isinstance(downsampling_factor, int) else (
            downsampling_factor,
        )
        if len(downsampling_factor) == 0 or any(
            not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in downsampling_factor
        ):
            raise ValueError(f"downsampling_factor: give positive ints, one per stack, got {downsampling_factor}")
        n = len(downsampling_factor)
        self.downsampling_factor = downsampling_factor
        self.encoder_dim = _to_tuple(encoder_dim, n, "encoder_dim")
        self.num_encoder_layers = _to_tuple(num_encoder_layers, n, "num_encoder_layers")
        self.encoder_unmasked_dim = _to_tuple(encoder_unmasked_dim, n, "encoder_unmasked_dim")
        self.query_head_dim = _to_tuple(query_head_dim, n, "query_head_dim")
        self.pos_head_dim = _to_tuple(pos_head_dim, n, "pos_head_dim")
        self.value_head_dim = _to_tuple(value_head_dim, n, "value_head_dim")
        self.num_heads = _to_tuple(num_heads, n, "num_heads")
        self.feedforward_dim = _to_tuple(feedforward_dim, n, "feedforward_dim")
        self.cnn_module_kernel = _to_tuple(cnn_module_kernel, n, "cnn_module_kernel")
        self.input_dim = self.encoder_dim[0] if input_dim is None else input_dim
        self.output_downsampling_factor = output_downsampling_factor
        self.pos_dim = pos_dim
        self.causal = causal
        if chunk_size is None:
            chunk_size = DEFAULT_CHUNK_SIZE if causal else (-1,)
        if left_context_frames is None:
            left_context_frames = DEFAULT_LEFT_CONTEXT_FRAMES if causal else (-1,)
        self.chunk_size = tuple(chunk_size)
        self.left_context_frames = tuple(left_context_frames)
        self._validate()
        if dropout is None:
            dropout = ScheduledFloat((0.0, 0.3), (20000.0, 0.1))

        encoders = []
        for i in range(n):
            layer = Zipformer2EncoderLayer(
                embed_dim=self.encoder_dim[i],
                pos_dim=pos_dim,
                num_heads=self.num_heads[i],
                query_head_dim=self.query_head_dim[i],
                pos_head_dim=self.pos_head_dim[i],
                value_head_dim=self.value_head_dim[i],
                feedforward_dim=self.feedforward_dim[i],
                dropout=dropout,
                cnn_module_kernel=self.cnn_module_kernel[i],
                causal=causal,
                pos_emb_skip_rate=pos_emb_skip_rate,
                rel_shift=rel_shift,
            )
            encoder: nn.Module = Zipformer2Encoder(
                layer,
                self.num_encoder_layers[i],
                pos_dim=pos_dim,
                warmup_begin=warmup_batches * (i + 1) / (n + 1),
                warmup_end=warmup_batches * (i + 2) / (n + 1),
                final_layerdrop_rate=0.035 * (downsampling_factor[i] ** 0.5),
            )
            if downsampling_factor[i] != 1:
                encoder = DownsampledZipformer2Encoder(
                    encoder, dim=self.encoder_dim[i], downsample=downsampling_factor[i]
                )
            encoders.append(encoder)
        self.encoders = nn.ModuleList(encoders)
        self.downsample_output = SimpleDownsample(output_downsampling_factor)
        if output_downsampling_factor == 1:
            # Kept (frozen) so that parameter counts and checkpoints match icefall, which builds it
            # even when the output is not downsampled.
            self.downsample_output.bias.requires_grad_(False)

    @property
    def rel_shift(self) -> str:
        """The relative-shift variant of every attention module (see the class docstring)."""
        return next(m.rel_shift for m in self.modules() if isinstance(m, RelPositionMultiheadAttentionWeights))

    def set_rel_shift(self, rel_shift: str) -> None:
        """Switch every attention module to the relative-shift variant ``rel_shift`` (a key of
        :data:`REL_SHIFTS`); the values computed do not change."""
        if rel_shift not in REL_SHIFTS:
            raise ValueError(f"rel_shift must be one of {sorted(REL_SHIFTS)}, got {rel_shift!r}")
        for module in self.modules():
            if isinstance(module, RelPositionMultiheadAttentionWeights):
                module.rel_shift = rel_shift

    def _validate(self) -> None:
        for name in ("encoder_dim", "num_encoder_layers", "query_head_dim", "pos_head_dim", "value_head_dim",
                     "num_heads", "feedforward_dim"):
            values = getattr(self, name)
            if any(v < 1 for v in values):
                raise ValueError(f"{name}: every entry must be >= 1, got {values}")
        for i, (u, d) in enumerate(zip(self.encoder_unmasked_dim, self.encoder_dim)):
            if not 0 < u <= d:
                raise ValueError(
                    f"encoder_unmasked_dim[{i}]={u} must be in 1..encoder_dim[{i}]={d}; lower it"
                )
        for i, d in enumerate(self.encoder_dim):
            if d % 4 != 0:
                raise ValueError(f"encoder_dim[{i}]={d} must be divisible by 4 (NonlinAttention uses 3/4 of it)")
        for i, k in enumerate(self.cnn_module_kernel):
            if k % 2 != 1:
                raise ValueError(f"cnn_module_kernel[{i}]={k} must be odd")
        if self.input_dim < 1:
            raise ValueError(f"input_dim must be >= 1, got {self.input_dim}")
        if self.pos_dim < 2 or self.pos_dim % 2 != 0:
            raise ValueError(f"pos_dim must be a positive even number, got {self.pos_dim}")
        if self.output_downsampling_factor not in (1, 2):
            raise ValueError(f"output_downsampling_factor must be 1 or 2, got {self.output_downsampling_factor}")
        if len(self.chunk_size) == 0 or len(self.left_context_frames) == 0:
            raise ValueError("chunk_size and left_context_frames must be non-empty lists (use [-1] for none)")
        if not self.causal and (set(self.chunk_size) != {-1}):
            raise ValueError(f"chunk_size={list(self.chunk_size)} needs causal=True; use [-1] for a non-causal model")
        for c in self.chunk_size:
            self._check_chunk(c, "chunk_size")
        for lc in self.left_context_frames:
            if lc != -1 and lc < 0:
                raise ValueError(f"left_context_frames entries must be -1 or >= 0, got {lc}")
        for c in self.chunk_size:
            for lc in self.left_context_frames:
                if c > 0:
                    self._check_left_context(c, self._left_context_chunks(c, lc))

    def _check_chunk(self, chunk: int, name: str) -> None:
        if chunk == -1:
            return
        if chunk < 1:
            raise ValueError(f"{name} entries must be -1 or >= 1, got {chunk}")
        for d in self.downsampling_factor + (self.output_downsampling_factor,):
            if chunk % d != 0:
                raise ValueError(
                    f"{name}={chunk} must be divisible by every downsampling factor "
                    f"{list(self.downsampling_factor)} and output_downsampling_factor"
                )

    @staticmethod
    def _left_context_chunks(chunk: int, left_context_frames: int) -> int:
        if left_context_frames < 0:
            return -1
        return max(left_context_frames // chunk, 1)

    def _check_left_context(self, chunk: int, left_chunks: int) -> None:
        if left_chunks < 0:
            return
        for i, (k, d) in enumerate(zip(self.cnn_module_kernel, self.downsampling_factor)):
            if chunk * left_chunks < (k // 2) * d:
                raise ValueError(
                    f"left context of {chunk * left_chunks} frames (chunk_size={chunk}) is shorter than "
                    f"stack {i}'s convolution context ({k // 2} x {d} frames); raise left_context_frames"
                )

    def get_chunk_info(
        self, chunk_size: int | None = None, left_context_frames: int | None = None
    ) -> tuple[int, int]:
        """Return (chunk_size, left_context_chunks); (-1, -1) for no chunking.

        Values passed in are used as they are; otherwise training samples them from the configured
        lists and evaluation takes the lists' first entries (never sampled)."""
        if not self.causal:
            if chunk_size not in (None, -1):
                raise ValueError("chunk_size needs a model built with causal=True")
            return -1, -1
        if chunk_size is None:
            chunk_size = random.choice(self.chunk_size) if self.training else self.chunk_size[0]
        self._check_chunk(chunk_size, "chunk_size")
        if chunk_size == -1:
            return -1, -1
        if left_context_frames is None:
            lists = self.left_context_frames
            left_context_frames = random.choice(lists) if self.training else lists[0]
        left_chunks = self._left_context_chunks(chunk_size, left_context_frames)
        self._check_left_context(chunk_size, left_chunks)
        return chunk_size, left_chunks

    @staticmethod
    def chunk_attention_mask(seq_len: int, chunk_size: int, left_context_chunks: int, device=None) -> Tensor:
        """(T, T) bool, True = masked: query frame i may see key j iff chunk(j) <= chunk(i) and
        chunk(j) >= chunk(i) - left_context_chunks (unlimited when left_context_chunks < 0)."""
        c = torch.arange(seq_len, device=device) // chunk_size
        mask = c.unsqueeze(0) > c.unsqueeze(1)
        if left_context_chunks >= 0:
            mask = mask | (c.unsqueeze(0) < c.unsqueeze(1) - left_context_chunks)
        return mask

    def get_feature_masks(self, x: Tensor) -> list[Tensor | float]:
        """Per-stack multiplicative masks (1, B, C_i) for x (T, B, C): in training, for ~12.5% of
        sequences the channels in [unmasked_dim, unmasked_dim + (C - unmasked_dim) // 2) are zeroed,
        and for about twice as many the channels above that; 1.0 in eval."""
        n = len(self.encoder_dim)
        if not self.training:
            return [1.0] * n
        batch = x.shape[1]
        p = 0.125
        mask1 = (torch.rand(1, batch, 1, device=x.device) > p).to(x.dtype)
        mask2 = mask1 * (torch.rand(1, batch, 1, device=x.device) > p).to(x.dtype)
        masks: list[Tensor | float] = []
        for dim, unmasked in zip(self.encoder_dim, self.encoder_unmasked_dim):
            m = torch.ones(1, batch, dim, dtype=x.dtype, device=x.device)
            mid = unmasked + (dim - unmasked) // 2
            m[:, :, unmasked:mid] *= mask1
            m[:, :, mid:] *= mask2
            masks.append(m)
        return masks

    def _full_dim_output(self, outputs: list[Tensor]) -> Tensor:
        """Last stack's output, extended with channels from the most recent stacks that have them."""
        pieces = [outputs[-1]]
        cur = self.encoder_dim[-1]
        for i in range(len(outputs) - 2, -1, -1):
            d = self.encoder_dim[i]
            if d > cur:
                pieces.append(outputs[i][..., cur:d])
                cur = d
        return torch.cat(pieces, dim=-1)

    def _check_input(self, x: Tensor, x_lens: Tensor, mask: Tensor | None) -> None:
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"x must be (B, T, input_dim={self.input_dim}), got {tuple(x.shape)}")
        if x_lens.shape != (x.shape[0],) or x_lens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"x_lens must be an integer (int64) tensor of shape ({x.shape[0]},), got "
                             f"{x_lens.dtype} {tuple(x_lens.shape)}")
        if mask is not None and (mask.shape != x.shape[:2] or mask.dtype != torch.bool):
            raise ValueError(f"src_key_padding_mask must be bool (B, T)={tuple(x.shape[:2])}, got "
                             f"{mask.dtype} {tuple(mask.shape)}")

    def _output(self, outputs: list[Tensor], x_lens: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        x = self._full_dim_output(outputs)
        if self.output_downsampling_factor == 1:
            return x, x_lens
        x = self.downsample_output(x, mask)
        return x, torch.div(x_lens + 1, 2, rounding_mode="floor")

    def forward(
        self,
        x: Tensor,
        x_lens: Tensor,
        src_key_padding_mask: Tensor | None = None,
        return_stack: int | None = None,
        *,
        chunk_size: int | None = None,
        left_context_frames: int | None = None,
    ) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (B, T, input_dim), x_lens (B,) int64; src_key_padding_mask (B, T) True at padding
        (derived from x_lens when None).

        Returns (out (B, T_out, max(encoder_dim)), out_lens) with T_out = T or (T + 1) // 2; with
        ``return_stack=i`` also (stack (B, T, encoder_dim[i]), x_lens): stack i's output at the input rate
        (upsampled), before full-dim assembly and output downsampling; HENT-SRT's ST encoder reads the last
        one (``i = -1``). ``chunk_size`` and
        ``left_context_frames`` (causal models) override the configured values.
        """
        self._check_input(x, x_lens, src_key_padding_mask)
        seq_len = x.shape[1]
        if src_key_padding_mask is None:
            src_key_padding_mask = torch.arange(seq_len, device=x.device).unsqueeze(0) >= x_lens.unsqueeze(1)
        x = x.transpose(0, 1)
        feature_masks = self.get_feature_masks(x)
        chunk, left_chunks = self.get_chunk_info(chunk_size, left_context_frames)
        attn_mask = None
        if chunk > 0:
            attn_mask = self.chunk_attention_mask(seq_len, chunk, left_chunks, device=x.device)
        outputs = []
        for i, module in enumerate(self.encoders):
            x = convert_num_channels(x, self.encoder_dim[i])
            x = module(x, chunk_size=chunk, feature_mask=feature_masks[i], attn_mask=attn_mask,
                       src_key_padding_mask=src_key_padding_mask)
            outputs.append(x)
        out, out_lens = self._output(outputs, x_lens, src_key_padding_mask)
        out = out.transpose(0, 1)
        if return_stack is not None:
            if not -len(outputs) <= return_stack < len(outputs):
                raise ValueError(f"return_stack={return_stack} is not a stack index of this {len(outputs)}-stack encoder")
            return out, out_lens, outputs[return_stack].transpose(0, 1), x_lens
        return out, out_lens

    def init_states(
        self,
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        left_context_frames: int | None = None,
    ) -> list[Tensor]:
        """Zero streaming states: per layer (cached_key (L_i, B, H*dq), cached_nonlin_attn
        (1, B, L_i, 3C/4), cached_val1 (L_i, B, H*dv), cached_val2, cached_conv1 (B, C, K//2),
        cached_conv2), with L_i = left_context_frames / downsampling_factor[i], then processed_lens (B,).

        left_context_frames defaults to the largest non-negative entry of the configured list."""
        if not self.causal:
            raise ValueError("streaming needs a model built with causal=True")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if left_context_frames is None:
            candidates = [lc for lc in self.left_context_frames if lc >= 0]
            if not candidates:
                raise ValueError("left_context_frames: pass a value >= 0 (the configured list has only -1)")
            left_context_frames = max(candidates)
        for d in self.downsampling_factor:
            if left_context_frames < 0 or left_context_frames % d != 0:
                raise ValueError(
                    f"left_context_frames={left_context_frames} must be >= 0 and divisible by every "
                    f"downsampling factor {list(self.downsampling_factor)}"
                )
        states: list[Tensor] = []
        for i in range(len(self.encoders)):
            dim = self.encoder_dim[i]
            left = left_context_frames // self.downsampling_factor[i]
            key_dim = self.query_head_dim[i] * self.num_heads[i]
            value_dim = self.value_head_dim[i] * self.num_heads[i]
            pad = self.cnn_module_kernel[i] // 2
            for _ in range(self.num_encoder_layers[i]):
                states += [
                    torch.zeros(left, batch_size, key_dim, device=device),
                    torch.zeros(1, batch_size, left, 3 * dim // 4, device=device),
                    torch.zeros(left, batch_size, value_dim, device=device),
                    torch.zeros(left, batch_size, value_dim, device=device),
                    torch.zeros(batch_size, dim, pad, device=device),
                    torch.zeros(batch_size, dim, pad, device=device),
                ]
        states.append(torch.zeros(batch_size, dtype=torch.int64, device=device))
        return states

    def streaming_forward(
        self,
        x: Tensor,
        x_lens: Tensor,
        states: list[Tensor],
        src_key_padding_mask: Tensor | None = None,
        return_stack: int | None = None,
    ) -> tuple[Tensor, Tensor, list[Tensor]] | tuple[Tensor, Tensor, list[Tensor], Tensor, Tensor]:
        """Process one chunk (inference only, model in eval mode).

        x (B, T_chunk, input_dim) with T_chunk divisible by every downsampling factor and the output
        factor; x_lens (B,) valid frames in the chunk; states from :meth:`init_states` or the previous
        call. Equals the causal ``forward`` with ``chunk_size=T_chunk`` and the states' left context.
        Returns (out (B, T_chunk / output_ds, max(encoder_dim)), out_lens, new_states); with
        ``return_stack=i`` also (stack (B, T_chunk, encoder_dim[i]), x_lens): stack i's output for this
        chunk, as ``forward(..., return_stack=i)`` gives it for the whole sequence.
        """
        if self.training:
            raise ValueError("streaming_forward is for inference: call model.eval() first")
        if not self.causal:
            raise ValueError("streaming needs a model built with causal=True")
        self._check_input(x, x_lens, src_key_padding_mask)
        num_layers = sum(self.num_encoder_layers)
        if len(states) != num_layers * STATES_PER_LAYER + 1:
            raise ValueError(f"states must have {num_layers * STATES_PER_LAYER + 1} tensors (see init_states), "
                             f"got {len(states)}")
        chunk = x.shape[1]
        self._check_chunk(chunk, "chunk length (x.shape[1])")
        if return_stack is not None and not -len(self.encoders) <= return_stack < len(self.encoders):
            raise ValueError(
                f"return_stack={return_stack} is not a stack index of this {len(self.encoders)}-stack encoder"
            )
        processed_lens = states[-1]
        left = states[0].shape[0] * self.downsampling_factor[0]
        if src_key_padding_mask is None:
            src_key_padding_mask = torch.arange(chunk, device=x.device).unsqueeze(0) >= x_lens.unsqueeze(1)
        positions = torch.arange(left, device=x.device).unsqueeze(0)
        left_mask = (left - positions) > processed_lens.unsqueeze(1)
        full_mask = torch.cat((left_mask, src_key_padding_mask), dim=1)

        x = x.transpose(0, 1)
        outputs = []
        new_states: list[Tensor] = []
        offset = 0
        for i, module in enumerate(self.encoders):
            n = self.num_encoder_layers[i] * STATES_PER_LAYER
            x = convert_num_channels(x, self.encoder_dim[i])
            x, layer_states = module.streaming_forward(x, states[offset : offset + n], full_mask)
            offset += n
            outputs.append(x)
            new_states.extend(layer_states)
        new_states.append(processed_lens + x_lens)
        out, out_lens = self._output(outputs, x_lens, src_key_padding_mask)
        if return_stack is not None:
            return out.transpose(0, 1), out_lens, new_states, outputs[return_stack].transpose(0, 1), x_lens
        return out.transpose(0, 1), out_lens, new_states
