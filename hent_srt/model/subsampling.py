"""Conv2dSubsampling: the Zipformer2 front end (fbank at 100 Hz -> encoder_dim[0] at about 50 Hz).

Three 3x3 convolutions (the second with stride 2 in time and frequency, the third with stride 2 in
frequency) with SwooshR, one ConvNeXt block (7x7 depthwise conv, 1x1 expansion by 3, SwooshL, 1x1
projection, residual), a Linear to ``out_channels``, BiasNorm and dropout shared over time.
Output length: ``T' = (T - 7) // 2``. Same structure and parameter names as icefall's
``zipformer/subsampling.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hent_srt.model.scaling import (
    Balancer,
    BiasNorm,
    Dropout3,
    FloatLike,
    ScaledConv2d,
    ScaleGrad,
    ScheduledFloat,
    SwooshL,
    SwooshR,
    Whiten,
)


class ConvNeXt(nn.Module):
    """ConvNeXt block on (B, C, T, F): ``y = x + pw2(SwooshL(pw1(dwconv7x7(x))))``.

    In training the residual branch is dropped per sequence with probability ``layerdrop_rate``
    (0.2 -> 0.015 over 20k batches).
    """

    def __init__(
        self,
        channels: int,
        hidden_ratio: int = 3,
        kernel_size: tuple[int, int] = (7, 7),
        layerdrop_rate: FloatLike | None = None,
    ) -> None:
        super().__init__()
        self.padding = ((kernel_size[0] - 1) // 2, (kernel_size[1] - 1) // 2)
        hidden_channels = channels * hidden_ratio
        if layerdrop_rate is None:
            layerdrop_rate = ScheduledFloat((0.0, 0.2), (20000.0, 0.015))
        self.layerdrop_rate = layerdrop_rate
        self.depthwise_conv = nn.Conv2d(
            channels, channels, groups=channels, kernel_size=kernel_size, padding=self.padding
        )
        self.pointwise_conv1 = nn.Conv2d(channels, hidden_channels, kernel_size=1)
        self.hidden_balancer = Balancer(
            hidden_channels, channel_dim=1, min_positive=0.3, max_positive=1.0, min_abs=0.75, max_abs=5.0
        )
        self.activation = SwooshL()
        self.pointwise_conv2 = ScaledConv2d(hidden_channels, channels, kernel_size=1, initial_scale=0.01)
        self.out_balancer = Balancer(
            channels, channel_dim=1, min_positive=0.4, max_positive=0.6, min_abs=1.0, max_abs=6.0
        )
        self.out_whiten = Whiten(num_groups=1, whitening_limit=5.0, prob=(0.025, 0.25), grad_scale=0.01)

    def _branch(self, x: Tensor) -> Tensor:
        x = self.pointwise_conv1(x)
        x = self.hidden_balancer(x)
        x = self.activation(x)
        return self.pointwise_conv2(x)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T, F) -> (B, C, T, F)."""
        if x.device.type == "cpu":
            # Same values; PyTorch's CPU backward of depthwise 2-D convolutions is several times faster
            # in channels-last layout.
            x = x.contiguous(memory_format=torch.channels_last)
        branch = self._branch(self.depthwise_conv(x))
        if self.training:
            rate = float(self.layerdrop_rate)
            if rate != 0.0:
                keep = torch.rand((x.shape[0], 1, 1, 1), device=x.device) > rate
                branch = branch * keep.to(x.dtype)
        x = self.out_balancer(x + branch)
        if x.requires_grad:
            x = self.out_whiten(x.transpose(1, 3)).transpose(1, 3)
        return x

    def streaming_forward(self, x: Tensor, cached_left_pad: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, C, T + 3, F) including 3 frames of right context; cached_left_pad: (B, C, 3, F), the
        3 frames before x. Returns ((B, C, T, F), new cache)."""
        pad_t = self.padding[0]
        num_out = x.shape[2] - pad_t
        bypass = x[:, :, :num_out]
        x = torch.cat((cached_left_pad, x), dim=2)
        new_cache = x[:, :, num_out : num_out + pad_t]
        conv = self.depthwise_conv
        x = nn.functional.conv2d(
            x, conv.weight, conv.bias, padding=(0, self.padding[1]), groups=conv.groups
        )
        return bypass + self._branch(x), new_cache


class Conv2dSubsampling(nn.Module):
    """Front end: x (B, T, in_channels) -> (B, (T - 7) // 2, out_channels).

    Conv2dSubsampling(in_channels=80, out_channels=192) has 611,953 parameters, as in icefall. The
    output dropout (shared over time) defaults to the rate the icefall recipes pass: 0.3 -> 0.1 over
    20k batches (0 in eval).
    Frames after each utterance's length are zeroed before the ConvNeXt block so that an utterance's
    output does not depend on the padding of the batch it is in.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layer1_channels: int = 8,
        layer2_channels: int = 32,
        layer3_channels: int = 128,
        dropout: FloatLike | None = None,
    ) -> None:
        super().__init__()
        if dropout is None:
            dropout = ScheduledFloat((0.0, 0.3), (20000.0, 0.1))
        if in_channels < 7:
            raise ValueError(f"in_channels must be >= 7 (feature bins), got {in_channels}")
        for name, value in (
            ("out_channels", out_channels),
            ("layer1_channels", layer1_channels),
            ("layer2_channels", layer2_channels),
            ("layer3_channels", layer3_channels),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.in_channels = in_channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, layer1_channels, kernel_size=3, padding=(0, 1)),
            ScaleGrad(0.2),
            Balancer(layer1_channels, channel_dim=1, max_abs=1.0),
            SwooshR(),
            nn.Conv2d(layer1_channels, layer2_channels, kernel_size=3, stride=2, padding=0),
            Balancer(layer2_channels, channel_dim=1, max_abs=4.0),
            SwooshR(),
            nn.Conv2d(layer2_channels, layer3_channels, kernel_size=3, stride=(1, 2)),
            Balancer(layer3_channels, channel_dim=1, max_abs=4.0),
            SwooshR(),
        )
        self.convnext = ConvNeXt(layer3_channels, kernel_size=(7, 7))
        self.out_width = (((in_channels - 1) // 2) - 1) // 2
        self.layer3_channels = layer3_channels
        self.out = nn.Linear(self.out_width * layer3_channels, out_channels)
        self.out_whiten = Whiten(
            num_groups=1,
            whitening_limit=ScheduledFloat((0.0, 4.0), (20000.0, 8.0), default=4.0),
            prob=(0.025, 0.25),
            grad_scale=0.02,
        )
        self.out_norm = BiasNorm(out_channels)
        self.dropout = Dropout3(dropout, shared_dim=1)

    def _check_input(self, x: Tensor, x_lens: Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"x must be (B, T, {self.in_channels}), got {tuple(x.shape)}")
        if x_lens.shape != (x.shape[0],):
            raise ValueError(f"x_lens must have shape ({x.shape[0]},), got {tuple(x_lens.shape)}")
        if x.shape[1] < 9:
            raise ValueError(f"x must have at least 9 frames (T' = (T - 7) // 2 >= 1), got {x.shape[1]}")

    def _project(self, x: Tensor) -> Tensor:
        """(B, C, T', F') -> (B, T', out_channels) through Linear (and Whiten, a forward identity)."""
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))
        return self.out_whiten(x)

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, T, in_channels), x_lens (B,) int64 -> (B, (T - 7) // 2, out_channels), (x_lens - 7) // 2."""
        self._check_input(x, x_lens)
        out_lens = torch.div(x_lens - 7, 2, rounding_mode="floor")
        h = self.conv(x.unsqueeze(1))
        valid = torch.arange(h.shape[2], device=x.device) < out_lens.unsqueeze(1)
        h = h * valid[:, None, :, None].to(h.dtype)
        h = self.convnext(h)
        x = self.out_norm(self._project(h))
        x = self.dropout(x)
        return x, out_lens

    def streaming_forward(
        self, x: Tensor, x_lens: Tensor, cached_left_pad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One piece of features: x (B, T, in_channels) with T = 2 * chunk + 13 (7 frames for the
        convolutions, 2 * 3 frames of ConvNeXt right context). Consecutive pieces overlap by 13 frames
        (start piece k at frame 2 * chunk * k). cached_left_pad: (B, layer3_channels, 3, out_width).

        Returns ((B, (T - 7) // 2 - 3, out_channels), lengths (x_lens - 7) // 2 - 3, new cache).
        """
        self._check_input(x, x_lens)
        h = self.conv(x.unsqueeze(1))
        h, cached_left_pad = self.convnext.streaming_forward(h, cached_left_pad)
        x = self.out_norm(self._project(h))
        pad_t = self.convnext.padding[0]
        out_lens = torch.div(x_lens - 7, 2, rounding_mode="floor") - pad_t
        return x, out_lens, cached_left_pad

    def get_init_states(self, batch_size: int = 1, device: torch.device | str = "cpu") -> Tensor:
        """Zero ConvNeXt left context: (batch_size, layer3_channels, 3, out_width)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return torch.zeros(
            batch_size, self.layer3_channels, self.convnext.padding[0], self.out_width, device=device
        )
