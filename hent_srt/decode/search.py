"""Transducer search for one task head: batched greedy search and modified beam search, with blank penalty.

Both searches take the head's encoder output (B, T, C) with lengths (B,), a predictor and a joiner:

- predictor: attributes ``blank_id`` and ``context_size``; ``predictor(y (N, context_size), need_pad=False)``
  → (N, 1, D), where a negative id means "no token" (see :mod:`hent_srt.model.predictor`);
- joiner: modules ``encoder_proj`` (C → J) and ``decoder_proj`` (D → J), and
  ``joiner(enc (N, J), dec (N, J), project_input=False)`` → (N, V) (see :mod:`hent_srt.model.joiner`).

Every hypothesis starts from the context ``[-1] * (context_size - 1) + [blank_id]``. Put both modules in
eval mode before searching. The blank penalty (HENT-SRT uses it for translation) is subtracted from the
blank logit before the argmax / log-softmax, which makes emitting tokens cheaper and counters deletions.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def apply_blank_penalty(logits: torch.Tensor, penalty: float, blank_id: int = 0) -> torch.Tensor:
    """Return ``logits`` (..., V) with ``penalty`` subtracted from column ``blank_id`` (input left unchanged).

    logits'[..., blank_id] = logits[..., blank_id] - penalty; every other entry is copied.
    """
    _check_penalty(penalty)
    if logits.dim() < 1 or not -logits.size(-1) <= blank_id < logits.size(-1):
        raise ValueError(f"blank_id={blank_id} is not a column of logits with shape {tuple(logits.shape)}")
    if penalty == 0:
        return logits
    out = logits.clone()
    out[..., blank_id] -= penalty
    return out


def _check_penalty(penalty: float) -> None:
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty):
        raise ValueError(f"blank_penalty must be a finite number, got {penalty!r}")


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _check_inputs(
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    predictor: nn.Module,
    joiner: nn.Module,
    blank_penalty: float,
) -> None:
    if encoder_out.dim() != 3:
        raise ValueError(f"encoder_out must be (B, T, C), got shape {tuple(encoder_out.shape)}")
    if encoder_out_lens.dim() != 1 or encoder_out_lens.size(0) != encoder_out.size(0):
        raise ValueError(
            f"encoder_out_lens must have shape (B,) = ({encoder_out.size(0)},), "
            f"got {tuple(encoder_out_lens.shape)}"
        )
    if encoder_out_lens.dtype.is_floating_point or encoder_out_lens.dtype == torch.bool:
        raise ValueError(
            f"encoder_out_lens must be an integer (int64) tensor, got dtype {encoder_out_lens.dtype}"
        )
    if encoder_out_lens.numel() > 0:
        low, high = int(encoder_out_lens.min()), int(encoder_out_lens.max())
        if low < 0 or high > encoder_out.size(1):
            raise ValueError(
                f"encoder_out_lens must lie in [0, T={encoder_out.size(1)}], got values in [{low}, {high}]"
            )
    in_features = getattr(joiner.encoder_proj, "in_features", encoder_out.size(2))
    if in_features != encoder_out.size(2):
        raise ValueError(
            f"encoder_out has C={encoder_out.size(2)} channels but the joiner's encoder_proj expects {in_features}"
        )
    for attribute in ("blank_id", "context_size"):
        if not hasattr(predictor, attribute):
            raise ValueError(f"predictor must have a '{attribute}' attribute (see hent_srt.model.predictor)")
    _check_penalty(blank_penalty)


def _initial_contexts(n: int, predictor: nn.Module, device: torch.device) -> torch.Tensor:
    """(n, context_size) int64 start contexts ``[-1] * (context_size - 1) + [blank_id]``."""
    row = [-1] * (predictor.context_size - 1) + [predictor.blank_id]
    return torch.tensor([row] * n, dtype=torch.int64, device=device).reshape(n, predictor.context_size)


def _project_predictor(predictor: nn.Module, joiner: nn.Module, contexts: torch.Tensor) -> torch.Tensor:
    """Projected predictor output for contexts (N, context_size) → (N, J)."""
    return joiner.decoder_proj(predictor(contexts, need_pad=False)).squeeze(1)


@torch.no_grad()
def greedy_search(
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    predictor: nn.Module,
    joiner: nn.Module,
    blank_penalty: float = 0.0,
    max_sym_per_frame: int = 1,
) -> list[list[int]]:
    """Batched greedy transducer search.

    At frame t of utterance b (t < encoder_out_lens[b]) the search emits
    y = argmax_v (logits[v] - blank_penalty · [v = blank]) with logits = joiner(enc[b, t], pred(context));
    a non-blank y is appended and the predictor advances, staying on frame t; a blank, or the
    ``max_sym_per_frame``-th symbol on this frame, moves to frame t + 1. All utterances still inside their
    length advance together, one joiner call per step.

    Args:
        encoder_out: (B, T, C) encoder output of this task head.
        encoder_out_lens: (B,) int64 valid frames per utterance.
        predictor: see the module docstring.
        joiner: see the module docstring.
        blank_penalty: subtracted from the blank logit (finite; 0 disables).
        max_sym_per_frame: most symbols emitted on one frame (>= 1).
    Returns:
        B lists of token ids (blank never included), in input order.
    """
    _check_inputs(encoder_out, encoder_out_lens, predictor, joiner, blank_penalty)
    _check_positive_int("max_sym_per_frame", max_sym_per_frame)
    batch_size = encoder_out.size(0)
    device = encoder_out.device
    blank_id = predictor.blank_id
    enc = joiner.encoder_proj(encoder_out)  # (B, T, J)
    contexts = _initial_contexts(batch_size, predictor, device)  # (B, context_size)
    dec = _project_predictor(predictor, joiner, contexts)  # (B, J)
    lens = encoder_out_lens.to(device)
    hyps: list[list[int]] = [[] for _ in range(batch_size)]
    num_frames = int(lens.max()) if batch_size > 0 else 0
    for t in range(num_frames):
        rows = torch.nonzero(lens > t).squeeze(1)
        for _ in range(max_sym_per_frame):
            logits = joiner(enc[rows, t], dec[rows], project_input=False)  # (R, V)
            tokens = apply_blank_penalty(logits, blank_penalty, blank_id).argmax(dim=-1)
            emitted = tokens != blank_id
            rows, tokens = rows[emitted], tokens[emitted]
            if rows.numel() == 0:
                break
            for row, token in zip(rows.tolist(), tokens.tolist()):
                hyps[row].append(token)
            contexts[rows] = torch.cat([contexts[rows, 1:], tokens.unsqueeze(1)], dim=1)
            dec[rows] = _project_predictor(predictor, joiner, contexts[rows])
    return hyps


def _log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for finite a, b."""
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


@torch.no_grad()
def modified_beam_search(
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    predictor: nn.Module,
    joiner: nn.Module,
    beam: int = 4,
    blank_penalty: float = 0.0,
    length_norm: bool = True,
) -> list[list[int]]:
    """Batched modified beam search (icefall's): at most one symbol per frame.

    Each hypothesis h carries a token sequence and score(h) = log of the summed probability of its
    alignments so far. On frame t every hypothesis of every active utterance is scored in one batch,
    log p(v | h, t) = log_softmax(logits - blank_penalty · [v = blank])[v], and for each utterance the ``beam``
    best pairs (h, v) by score(h) + log p(v | h, t) are kept; v = blank keeps h's sequence, other v append
    it, and pairs that reach the same sequence are merged by log-add. After the last frame the
    hypothesis maximising score(h) / (context_size + len(h)) (``length_norm``, icefall's choice, whose
    length counts the start context) or score(h) is returned.

    Args:
        encoder_out: (B, T, C) encoder output of this task head.
        encoder_out_lens: (B,) int64 valid frames per utterance.
        predictor: see the module docstring.
        joiner: see the module docstring.
        beam: hypotheses kept per utterance (>= 1).
        blank_penalty: subtracted from the blank logit before the log-softmax (finite; 0 disables).
        length_norm: rank final hypotheses by length-normalised score.
    Returns:
        B lists of token ids (blank never included), in input order.
    """
    _check_inputs(encoder_out, encoder_out_lens, predictor, joiner, blank_penalty)
    _check_positive_int("beam", beam)
    device = encoder_out.device
    blank_id = predictor.blank_id
    context_size = predictor.context_size
    enc = joiner.encoder_proj(encoder_out)  # (B, T, J)
    lens = encoder_out_lens.tolist()
    start = tuple(_initial_contexts(1, predictor, device)[0].tolist())
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

        dec = _project_predictor(predictor, joiner, contexts)  # (H, J)
        logits = joiner(enc[owners, t], dec, project_input=False)  # (H, V)
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
