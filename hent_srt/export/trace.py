"""Tracing a HENT-SRT model for TorchScript and ONNX.

The Zipformer2 code uses Python features TorchScript's compiler does not accept (autograd Functions, scheduled
floats, unions of tensors and floats), so every graph is made with ``torch.jit.trace`` (TorchScript) or the
TorchScript-based ONNX exporter. A trace bakes in Python control flow, which matters in two places:

1. the relative-position shift: the default ``as_strided`` variant computes strides from the traced length;
   :func:`traceable` switches the model's encoders to the ``gather`` variant (an option of
   :class:`hent_srt.model.zipformer.Zipformer2`, same values) whose indices follow the input length;
2. ``SimpleDownsample`` appends padding frames only when the length is not a multiple of its factor; the trace
   length is chosen so that every downsampling step pads (:func:`trace_num_frames`), and the traced padding (of
   length 0 for other inputs) is then right for every length.

The tests check traced and ONNX graphs against the PyTorch model on lengths other than the traced one.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from hent_srt.model.hent import HentSrt


@contextlib.contextmanager
def traceable(model: HentSrt) -> Iterator[None]:
    """Within the block, ``model`` is in eval mode with its encoders on the traceable relative shift, gradients
    are off, and the tracer's warnings about baked shape checks are silenced; everything is restored after."""
    encoders = [encoder for encoder, _ in model.encoders().values()]
    shifts = [encoder.rel_shift for encoder in encoders]
    training = model.training
    model.eval()
    for encoder in encoders:
        encoder.set_rel_shift("gather")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for encoder, shift in zip(encoders, shifts):
            encoder.set_rel_shift(shift)
        model.train(training)


def trace_num_frames(model: HentSrt) -> int:
    """Feature frames T of the example input for tracing.

    With T' = (T - 7) // 2 front-end frames, T' ≡ 1 (mod d) for every downsampling factor d of both encoders
    (so every SimpleDownsample pads, see the module docstring), and T' exceeds the evaluation chunk size of a
    causal encoder (so chunked convolutions keep their chunk); T' >= 17.
    """
    encoders = model.encoders().values()
    factors = [d for enc, _ in encoders for d in (*enc.downsampling_factor, enc.output_downsampling_factor)]
    period = math.lcm(*factors)
    minimum = max([17] + [cfg.eval_chunk_size + 1 for _, cfg in encoders if cfg.causal])
    frames = period * math.ceil((minimum - 1) / period) + 1
    return 2 * frames + 7


class MethodGraph(nn.Module):
    """``forward(*args)`` = ``getattr(module, method)(*args)``: one method of a module as a module of its own, for
    exporters that trace a module's forward (ONNX)."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, *args: Tensor) -> Tensor | tuple[Tensor, ...]:
        return getattr(self.module, self.method)(*args)
