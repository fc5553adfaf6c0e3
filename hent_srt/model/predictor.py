"""Transducer prediction networks ("decoders" in icefall) that see a fixed window of previous tokens.

Both predictors share one interface, which the training graph and the search in :mod:`hent_srt.decode`
rely on:

- attributes ``vocab_size``, ``decoder_dim``, ``blank_id``, ``context_size``;
- training: ``forward(y (N, U), need_pad=True) -> (N, U, D)``, where output ``u`` depends on the tokens
  ``y[:, u - context_size + 1 : u + 1]`` and positions before the start are "no token";
- one decoding step: ``forward(y (N, context_size), need_pad=False) -> (N, 1, D)``, the same output as the
  training forward gives at the last position of that window.

A negative token id means "no token": its embedding is the zero vector, exactly what the training forward's
left padding supplies. A search therefore starts every hypothesis from the context
``[-1] * (context_size - 1) + [blank_id]`` (the blank id doubles as the start-of-sequence symbol), which
matches the training input ``[blank_id] + y`` position for position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hent_srt.model.scaling import Balancer


def _check_sizes(vocab_size: int, decoder_dim: int, blank_id: int, context_size: int) -> None:
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2 (blank plus at least one token), got {vocab_size}")
    if decoder_dim < 1:
        raise ValueError(f"decoder_dim must be >= 1, got {decoder_dim}")
    if not 0 <= blank_id < vocab_size:
        raise ValueError(f"blank_id must be in [0, vocab_size={vocab_size}), got {blank_id}")
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got {context_size}")


def _check_tokens(y: torch.Tensor, vocab_size: int, context_size: int, need_pad: bool) -> None:
    if y.dim() != 2:
        raise ValueError(f"y must be a 2-D (N, U) tensor of token ids, got shape {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer token ids, got dtype {y.dtype}")
    if not need_pad and y.size(1) != context_size:
        raise ValueError(
            f"y must have context_size={context_size} columns when need_pad=False (one decoding step), "
            f"got shape {tuple(y.shape)}; pass need_pad=True for a whole sequence"
        )
    if y.numel() > 0 and int(y.max()) >= vocab_size:
        raise ValueError(f"y holds token id {int(y.max())} >= vocab_size={vocab_size}")


def _embed(embedding: nn.Embedding, y: torch.Tensor) -> torch.Tensor:
    """Embed ``y`` (N, U) → (N, U, D); negative ids ("no token") give zero vectors."""
    y = y.to(torch.int64)
    return embedding(y.clamp(min=0)) * (y >= 0).unsqueeze(-1).to(embedding.weight.dtype)


def _balancer(num_channels: int) -> Balancer:
    """icefall's predictor balancer: in training, keeps each channel's mean |activation| in [0.5, 1]."""
    return Balancer(
        num_channels,
        channel_dim=-1,
        min_positive=0.0,
        max_positive=1.0,
        min_abs=0.5,
        max_abs=1.0,
        prob=0.05,
    )


class StatelessPredictor(nn.Module):
    """Stateless predictor of Ghodsi et al. (2020) with icefall's grouped Conv1d over the token context.

    out[n, u] = ReLU( sum_{k=0}^{c-1} W_k · e(y[n, u - c + 1 + k]) )   for c = context_size > 1,
    out[n, u] = e(y[n, u])                                              for c = 1,

    with e the embedding (zero for "no token") and W the Conv1d(D, D, kernel c, groups D/4, no bias) weights.
    Parameters: V·D + D·4·c (for c > 1), e.g. 1,280,000 + 2,048 for V=5000, D=256, c=2. Balancers (no
    parameters; identity in forward, they only shape gradients in training) follow the embedding and
    the ReLU.
    """

    def __init__(self, vocab_size: int, decoder_dim: int = 256, blank_id: int = 0, context_size: int = 2):
        super().__init__()
        _check_sizes(vocab_size, decoder_dim, blank_id, context_size)
        if context_size > 1 and decoder_dim % 4 != 0:
            raise ValueError(f"decoder_dim must be a multiple of 4 (Conv1d groups of 4), got {decoder_dim}")
        self.vocab_size = vocab_size
        self.decoder_dim = decoder_dim
        self.blank_id = blank_id
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, decoder_dim)
        self.balancer = _balancer(decoder_dim)
        if context_size > 1:
            self.conv = nn.Conv1d(
                decoder_dim, decoder_dim, kernel_size=context_size, groups=decoder_dim // 4, bias=False
            )
            self.balancer2 = _balancer(decoder_dim)

    def forward(self, y: torch.Tensor, need_pad: bool = True) -> torch.Tensor:
        """Predictor output for token ids ``y``.

        Args:
            y: (N, U) token ids; negative ids mean "no token". With ``need_pad=False``, U must equal
                ``context_size`` (one decoding step).
            need_pad: left-pad by ``context_size - 1`` "no token" positions so every position gets an output.
        Returns:
            (N, U, D) when ``need_pad`` else (N, 1, D).
        """
        _check_tokens(y, self.vocab_size, self.context_size, need_pad)
        emb = self.balancer(_embed(self.embedding, y))
        if self.context_size == 1:
            return emb
        x = emb.permute(0, 2, 1)
        if need_pad:
            x = F.pad(x, (self.context_size - 1, 0))
        out = F.relu(self.conv(x).permute(0, 2, 1))
        return self.balancer2(out)


class LstmPredictor(nn.Module):
    """LSTM predictor over the last ``context_size`` tokens, for ablations against the stateless one.

    out[n, u] = Linear( LSTM( e(y[n, u - c + 1]), ..., e(y[n, u]) )_last )   with c = context_size,

    i.e. each output is the LSTM's last hidden state after reading its own window of c embeddings (zero for
    "no token"), projected to ``decoder_dim``. Every output is a function of its window only, so the
    decoding step equals the training forward exactly and the same search code serves both predictors;
    a ``context_size`` at least as long as the longest target lets every output see the whole history.
    """

    def __init__(
        self,
        vocab_size: int,
        decoder_dim: int = 256,
        blank_id: int = 0,
        context_size: int = 2,
        hidden_dim: int = 512,
        num_layers: int = 1,
    ):
        super().__init__()
        _check_sizes(vocab_size, decoder_dim, blank_id, context_size)
        if hidden_dim < 1:
            raise ValueError(f"hidden_dim must be >= 1, got {hidden_dim}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.vocab_size = vocab_size
        self.decoder_dim = decoder_dim
        self.blank_id = blank_id
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, decoder_dim)
        self.lstm = nn.LSTM(decoder_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.output_linear = nn.Linear(hidden_dim, decoder_dim)

    def forward(self, y: torch.Tensor, need_pad: bool = True) -> torch.Tensor:
        """Predictor output for token ids ``y``.

        Args:
            y: (N, U) token ids; negative ids mean "no token". With ``need_pad=False``, U must equal
                ``context_size`` (one decoding step).
            need_pad: left-pad by ``context_size - 1`` "no token" positions so every position gets an output.
        Returns:
            (N, U, D) when ``need_pad`` else (N, 1, D).
        """
        _check_tokens(y, self.vocab_size, self.context_size, need_pad)
        c = self.context_size
        y = y.to(torch.int64)
        if need_pad:
            y = F.pad(y, (c - 1, 0), value=-1)
        windows = y.unfold(1, c, 1)  # (N, U, c)
        n, u = windows.shape[:2]
        emb = _embed(self.embedding, windows.reshape(n * u, c))  # (N*U, c, D)
        hidden, _ = self.lstm(emb)
        return self.output_linear(hidden[:, -1]).reshape(n, u, self.decoder_dim)
