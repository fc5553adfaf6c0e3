"""The transducer joiner: combines encoder and predictor outputs into vocabulary logits."""

from __future__ import annotations

import torch
from torch import nn

from hent_srt.model.scaling import ScaledLinear


class Joiner(nn.Module):
    """logits = W_out · tanh(W_enc · enc + b_enc + W_dec · dec + b_dec) + b_out.

    ``encoder_proj`` (C_enc → J) and ``decoder_proj`` (C_dec → J) are ScaledLinear with initial_scale=0.25
    (weights at 0.25 × PyTorch's default, biases from U(-0.025, 0.025), as icefall); ``output_linear``
    maps J → V.
    Parameters for C_enc=512, C_dec=256, J=256, V=5000: 131,328 + 65,792 + 1,285,000.
    """

    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int):
        super().__init__()
        for name, value in (
            ("encoder_dim", encoder_dim),
            ("decoder_dim", decoder_dim),
            ("joiner_dim", joiner_dim),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2 (blank plus at least one token), got {vocab_size}")
        self.encoder_proj = ScaledLinear(encoder_dim, joiner_dim, initial_scale=0.25)
        self.decoder_proj = ScaledLinear(decoder_dim, joiner_dim, initial_scale=0.25)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def forward(
        self, encoder_out: torch.Tensor, decoder_out: torch.Tensor, project_input: bool = True
    ) -> torch.Tensor:
        """Joint logits.

        Args:
            encoder_out: (..., C_enc), or (..., J) already passed through ``encoder_proj`` when
                ``project_input`` is False (pruned training, search).
            decoder_out: (..., C_dec), or (..., J) when ``project_input`` is False; broadcastable against
                ``encoder_out`` in the leading dimensions, e.g. (N, T, 1, C) with (N, 1, U, C).
            project_input: apply ``encoder_proj`` and ``decoder_proj`` first.
        Returns:
            (..., V) logits over the broadcast leading shape.
        """
        if encoder_out.dim() != decoder_out.dim():
            raise ValueError(
                f"encoder_out and decoder_out must have the same number of dimensions, got shapes "
                f"{tuple(encoder_out.shape)} and {tuple(decoder_out.shape)}"
            )
        if project_input:
            hidden = self.encoder_proj(encoder_out) + self.decoder_proj(decoder_out)
        else:
            hidden = encoder_out + decoder_out
        return self.output_linear(torch.tanh(hidden))
