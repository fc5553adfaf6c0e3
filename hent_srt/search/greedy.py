"""Greedy transducer search: ONE frame loop, batched over hypotheses and resumable, for every runtime.

:func:`greedy_advance` continues a batch of :class:`GreedyHyps` over new encoder frames; :func:`greedy_search`
runs it once over whole utterances (offline), and :class:`hent_srt.decode.streaming.StreamingDecoder` runs it
on each new chunk of every stream, carrying the hypotheses across chunks. The head is any
:class:`hent_srt.search.step.TransducerStep` (PyTorch, TorchScript, ONNX).

At frame t of row b (t < lens[b]) the search emits
y = argmax_v (logits[v] - blank_penalty · [v = blank]), logits = join(enc[b, t], predict(context_b));
a non-blank y is appended, the context shifts left by one and takes y, the predictor advances and the search
stays on frame t; a blank, or the ``max_sym_per_frame``-th symbol on this frame, moves to frame t + 1. All rows
still inside their length advance together, one joiner call per step. Argmax ties go to the lowest id.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hent_srt.search.step import (
    TransducerStep,
    apply_blank_penalty,
    check_encoder_output,
    check_penalty,
    check_positive_int,
    check_step,
    start_contexts,
)


@dataclass
class GreedyHyps:
    """Greedy hypotheses in progress, one row each: the tokens so far, the predictor context (the last
    ``context_size`` tokens; ``contexts`` (N, context_size) int64) and its projected predictor output
    ``decoder_out`` (N, J). ``tokens`` lists may be shared with their owner (a stream): they are appended to."""

    tokens: list[list[int]]
    contexts: Tensor
    decoder_out: Tensor

    @classmethod
    def start(cls, step: TransducerStep, n: int, device: torch.device | str = "cpu") -> GreedyHyps:
        """``n`` empty hypotheses at the start context (``n`` >= 1)."""
        contexts = start_contexts(n, step.context_size, step.blank_id, device)
        return cls([[] for _ in range(n)], contexts, step.predict(contexts))


def greedy_advance(
    step: TransducerStep,
    hyps: GreedyHyps,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    blank_penalty: float = 0.0,
    max_sym_per_frame: int = 1,
) -> None:
    """Continue ``hyps`` (N rows) over the frames ``encoder_out[b, :encoder_out_lens[b]]`` (module docstring);
    ``hyps`` is updated in place. encoder_out (N, T, J) is already passed through the encoder projection."""
    blank_id = step.blank_id
    lens = encoder_out_lens.to(encoder_out.device)
    for t in range(int(lens.max()) if lens.numel() else 0):
        rows = torch.nonzero(lens > t).squeeze(1)
        for _ in range(max_sym_per_frame):
            logits = step.join(encoder_out[rows, t], hyps.decoder_out[rows])  # (R, V)
            tokens = apply_blank_penalty(logits, blank_penalty, blank_id).argmax(dim=-1)
            emitted = tokens != blank_id
            rows, tokens = rows[emitted], tokens[emitted]
            if rows.numel() == 0:
                break
            for row, token in zip(rows.tolist(), tokens.tolist()):
                hyps.tokens[row].append(token)
            hyps.contexts[rows] = torch.cat([hyps.contexts[rows, 1:], tokens.unsqueeze(1)], dim=1)
            hyps.decoder_out[rows] = step.predict(hyps.contexts[rows])


@torch.no_grad()
def greedy_search(
    step: TransducerStep,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    blank_penalty: float = 0.0,
    max_sym_per_frame: int = 1,
) -> list[list[int]]:
    """Batched greedy search over whole utterances (module docstring).

    Args:
        step: the task head (see :mod:`hent_srt.search.step`).
        encoder_out: (B, T, J) the head's encoder output passed through the joiner's encoder projection.
        encoder_out_lens: (B,) int64 valid frames per utterance.
        blank_penalty: subtracted from the blank logit (finite; 0 disables).
        max_sym_per_frame: most symbols emitted on one frame (>= 1).
    Returns:
        B lists of token ids (blank never included), in input order.
    """
    check_step(step)
    check_encoder_output(encoder_out, encoder_out_lens)
    check_penalty(blank_penalty)
    check_positive_int("max_sym_per_frame", max_sym_per_frame)
    if encoder_out.size(0) == 0:
        return []
    hyps = GreedyHyps.start(step, encoder_out.size(0), encoder_out.device)
    greedy_advance(step, hyps, encoder_out, encoder_out_lens, blank_penalty, max_sym_per_frame)
    return hyps.tokens
