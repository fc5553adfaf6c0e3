"""Modified beam search (icefall's) on the transducer step interface, with blank penalty.

Each hypothesis h carries a token sequence and score(h) = log of the summed probability of its alignments so
far. On frame t every hypothesis of every active utterance is scored in one batch,
log p(v | h, t) = log_softmax(logits - blank_penalty · [v = blank])[v], and for each utterance the ``beam`` best
pairs (h, v) by score(h) + log p(v | h, t) are kept; v = blank keeps h's sequence, other v append it (at most
one symbol per frame), and pairs that reach the same sequence are merged by log-add. After the last frame the
hypothesis maximising score(h) / (context_size + len(h)) (``length_norm``, icefall's choice, whose length
counts the start context) or score(h) is returned.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hent_srt.search.step import (
    TransducerStep,
    apply_blank_penalty,
    check_encoder_output,
    check_penalty,
    check_positive_int,
    check_step,
    start_context,
)


def _log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for finite a, b."""
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


@torch.no_grad()
def modified_beam_search(
    step: TransducerStep,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: int = 4,
    blank_penalty: float = 0.0,
    length_norm: bool = True,
) -> list[list[int]]:
    """Batched modified beam search (module docstring).

    Args:
        step: the task head (see :mod:`hent_srt.search.step`).
        encoder_out: (B, T, J) the head's encoder output passed through the joiner's encoder projection.
        encoder_out_lens: (B,) int64 valid frames per utterance.
        beam: hypotheses kept per utterance (>= 1).
        blank_penalty: subtracted from the blank logit before the log-softmax (finite; 0 disables).
        length_norm: rank final hypotheses by length-normalised score.
    Returns:
        B lists of token ids (blank never included), in input order.
    """
    check_step(step)
    check_encoder_output(encoder_out, encoder_out_lens)
    check_penalty(blank_penalty)
    check_positive_int("beam", beam)
    device = encoder_out.device
    blank_id = step.blank_id
    context_size = step.context_size
    lens = encoder_out_lens.tolist()
    start = tuple(start_context(context_size, blank_id))
    beams: list[dict[tuple[int, ...], float]] = [{start: 0.0} for _ in lens]
    for t in range(max(lens, default=0)):
        utts = [b for b, length in enumerate(lens) if length > t]
        keys = [list(beams[b]) for b in utts]
        flat_keys = [key for utt_keys in keys for key in utt_keys]
        owners = torch.tensor([b for b, utt_keys in zip(utts, keys) for _ in utt_keys], device=device)
        slots = torch.tensor([i for utt_keys in keys for i in range(len(utt_keys))], device=device)
        positions = torch.tensor([a for a, utt_keys in enumerate(keys) for _ in utt_keys], device=device)
        contexts = torch.tensor([key[-context_size:] for key in flat_keys], dtype=torch.int64, device=device)
        prior = torch.tensor(
            [beams[b][key] for b, utt_keys in zip(utts, keys) for key in utt_keys],
            dtype=torch.float64,
            device=device,
        )

        logits = step.join(encoder_out[owners, t], step.predict(contexts))  # (H, V)
        log_probs = apply_blank_penalty(logits, blank_penalty, blank_id).log_softmax(dim=-1)
        scores = log_probs.to(torch.float64) + prior.unsqueeze(1)  # (H, V)

        vocab_size = scores.size(1)
        max_hyps = max(len(utt_keys) for utt_keys in keys)
        padded = scores.new_full((len(utts), max_hyps, vocab_size), -math.inf)
        padded[positions, slots] = scores
        top_scores, top_indices = padded.reshape(len(utts), -1).topk(min(beam, max_hyps * vocab_size), dim=1)

        for a, b in enumerate(utts):
            merged: dict[tuple[int, ...], float] = {}
            for score, index in zip(top_scores[a].tolist(), top_indices[a].tolist()):
                if score == -math.inf:
                    break
                slot, token = divmod(index, vocab_size)
                key = keys[a][slot] if token == blank_id else keys[a][slot] + (token,)
                merged[key] = _log_add(merged[key], score) if key in merged else score
            beams[b] = merged

    results = []
    for hyps in beams:
        best = max(hyps, key=lambda key: hyps[key] / len(key) if length_norm else hyps[key])
        results.append(list(best[context_size:]))
    return results
