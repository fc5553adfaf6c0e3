"""Greedy WER and BLEU on a fixed subset of the validation data, for watching a run while it trains.

At each validation the trainer decodes the first ``train.valid_metrics_num_utts`` utterances of its validation
loader (the same ones every time: the loader is not shuffled, and the subset is kept after the first pass) with
greedy search on every task head of the model, in eval mode and without gradients, and reports

    WER  = 100 * (S + D + I) / N        over the ASR hypotheses (:func:`hent_srt.metrics.error_rate`,
                                        ``unit`` word or char: then it is a CER)
    BLEU = sacrebleu corpus BLEU        over the ST hypotheses (:func:`hent_srt.metrics.translation_score`:
                                        lowercased, 13a, one reference per utterance)

with a few hypothesis / reference pairs per task. The blank penalties and symbols per frame are those of the
config's ``decode`` section, as ``hent-srt decode --method greedy`` would use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from hent_srt.metrics import error_rate, translation_score
from hent_srt.search.greedy import greedy_search

__all__ = ["NUM_EXAMPLES", "MetricSubset", "ValidMetrics", "compute_valid_metrics", "examples_markdown",
           "greedy_token_ids", "supports_metrics", "take_subset"]

NUM_EXAMPLES = 3  # hypothesis / reference pairs shown per task


@dataclass
class MetricSubset:
    """The utterances decoded at every validation: batches of (features (B, T, F), feature_lens (B,)), and per
    utterance its cut id and reference text per task ("asr": transcript, "st": translation)."""

    batches: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    cut_ids: list[str] = field(default_factory=list)
    refs: dict[str, list[str]] = field(default_factory=lambda: {"asr": [], "st": []})


@dataclass
class ValidMetrics:
    """One evaluation of the subset: ``wer`` (percent, None without an ASR head), ``bleu`` (None without an ST
    head) with its sacrebleu ``bleu_signature``, and ``examples[task]`` = [(cut id, reference, hypothesis)]."""

    num_utterances: int
    unit: str
    wer: float | None = None
    bleu: float | None = None
    bleu_signature: str = ""
    examples: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def supports_metrics(model: Any) -> bool:
    """True for a model with an ``encode`` method and per-task ``heads`` (a :class:`hent_srt.model.hent.HentSrt`)."""
    return callable(getattr(model, "encode", None)) and hasattr(model, "heads")


def take_subset(batches: Iterable[Any], num_utts: int) -> MetricSubset:
    """The first ``num_utts`` utterances of ``batches`` (loader batches with ``features``, ``feature_lens``,
    ``cut_ids``, ``src_text``, ``tgt_text``), on the CPU; iteration stops as soon as they are complete."""
    subset = MetricSubset()
    for batch in batches:
        k = min(len(batch.cut_ids), num_utts - len(subset.cut_ids))
        lens = batch.feature_lens[:k].cpu()
        subset.batches.append((batch.features[:k, : int(lens.max())].cpu(), lens))
        subset.cut_ids += list(batch.cut_ids[:k])
        subset.refs["asr"] += list(batch.src_text[:k])
        subset.refs["st"] += list(batch.tgt_text[:k])
        if len(subset.cut_ids) >= num_utts:
            break
    return subset


def greedy_token_ids(model: Any, task: str, encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor,
                     blank_penalty: float, max_sym_per_frame: int) -> list[list[int]]:
    """Greedy search of ``task``'s head on its encoder output (B, T, C), lengths (B,): token ids per utterance."""
    head = model.heads[task]
    return greedy_search(head, head.project_encoder(encoder_out), encoder_out_lens, blank_penalty, max_sym_per_frame)


@torch.no_grad()
def compute_valid_metrics(
    model: Any,
    subset: MetricSubset,
    tokenizers: Mapping[str, Any],
    device: torch.device,
    unit: str = "word",
    blank_penalties: Mapping[str, float] | None = None,
    max_sym_per_frame: int = 1,
) -> ValidMetrics:
    """Decode ``subset`` with every head of ``model`` that has a tokenizer in ``tokenizers`` and score it.

    The caller puts the model in eval mode (and may wrap the call in autocast)."""
    penalties = dict(blank_penalties or {})
    tasks = [t for t in model.heads if tokenizers.get(t) is not None]
    hyps: dict[str, list[str]] = {t: [] for t in tasks}
    for features, lens in subset.batches:
        encoded = model.encode(features.to(device), lens.to(device))
        for task in tasks:
            enc = encoded[task]
            ids = greedy_token_ids(model, task, enc.out, enc.lens, penalties.get(task, 0.0), max_sym_per_frame)
            hyps[task] += tokenizers[task].decode(ids)
    result = ValidMetrics(num_utterances=len(subset.cut_ids), unit=unit)
    for task in tasks:
        refs = subset.refs[task]
        result.examples[task] = list(zip(subset.cut_ids, refs, hyps[task]))[:NUM_EXAMPLES]
        if task == "asr":
            result.wer = error_rate(refs, hyps[task], subset.cut_ids, unit=unit).rate
        else:
            score = translation_score(hyps[task], [refs])
            result.bleu, result.bleu_signature = score.bleu, score.bleu_signature
    return result


def examples_markdown(examples: list[tuple[str, str, str]]) -> str:
    """Hypothesis / reference pairs as Markdown (TensorBoard's text tab renders it)."""
    blocks = [f"**{cut_id}**  \nref: {ref}  \nhyp: {hyp}" for cut_id, ref, hyp in examples]
    return "\n\n".join(blocks)
