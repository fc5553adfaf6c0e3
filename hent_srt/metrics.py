"""Scoring: word/character error rates with edit operations, corpus BLEU and chrF++ through sacrebleu.

Error rate: for each utterance a minimum-edit-distance alignment of hypothesis tokens to reference tokens
(substitution, deletion, insertion each cost 1); ``ER = (S + D + I) / N`` with N the number of reference tokens
over the corpus. Among alignments of minimal cost the reported one prefers, in this order, a match/substitution,
then a deletion, then an insertion at each step of the traceback (as Kaldi's ``compute-wer`` does).

BLEU: sacrebleu's corpus BLEU, lowercased, tokenizer 13a; chrF++: ``CHRF(word_order=2)``. Every score is
returned with its sacrebleu signature, which names the number of references. Several references per segment are
supported (Fisher dev/dev2/test have four).

Word order: RIBES (Isozaki et al. 2010) through nltk, on the same lowercased 13a tokens as BLEU. Per sentence the
hypothesis words found in the reference are aligned to reference positions (nltk's ``word_rank_alignment``: a
word occurring once on each side is matched directly, a repeated one by the shortest unique n-gram context), and
the normalised Kendall tau of those positions is ``NKT = (tau + 1) / 2`` = the share of matched-word pairs in the
reference's order (1 for the reference order, 0 for its reverse, 0 with fewer than two matches);
``RIBES = NKT · P^0.25 · BP^0.1`` with P the share of hypothesis words matched and BP = min(1, exp(1 - |ref| /
|hyp|)); the best reference counts; corpus RIBES is the mean over sentences. :func:`reordering_scores` reports
BLEU, chrF++ and these on the monotone and the reordered segments separately (by the number of crossing links of
each segment's word alignment, when the corpus knows it, as the synthetic one does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

# ---------------------------------------------------------------------------------------------------------
# Error rates


@dataclass
class Alignment:
    """Edit operations of one utterance: ``ops`` holds (op, ref_token, hyp_token); op in C, S, D, I."""

    ops: list[tuple[str, str, str]]

    def count(self, op: str) -> int:
        return sum(1 for o, _, _ in self.ops if o == op)


def align(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    """Minimum-edit-distance alignment of ``hyp`` to ``ref`` (unit costs); see the module docstring."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i
    for j in range(1, m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            diag = cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i][j] = min(diag, cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    ops: list[tuple[str, str, str]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("C" if ref[i - 1] == hyp[j - 1] else "S", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("D", ref[i - 1], ""))
            i -= 1
        else:
            ops.append(("I", "", hyp[j - 1]))
            j -= 1
    ops.reverse()
    return Alignment(ops)


@dataclass
class ErrorRate:
    """Corpus error counts. ``rate`` is in percent; ``num_ref`` is the number of reference tokens."""

    unit: str
    num_ref: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    num_utterances: int = 0
    per_utterance: list[tuple[str, Alignment]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        if self.num_ref == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return 100.0 * self.errors / self.num_ref

    @property
    def metric(self) -> str:
        """``WER`` for words, ``CER`` for characters."""
        return "WER" if self.unit == "word" else "CER"

    def summary(self) -> str:
        return (
            f"{self.metric} {self.rate:.2f}% [ {self.errors} / {self.num_ref}, {self.insertions} ins, "
            f"{self.deletions} del, {self.substitutions} sub ] over {self.num_utterances} utterances"
        )


def tokenize_for_error_rate(text: str, unit: str) -> list[str]:
    """Words split on white space, or characters with white space dropped (``unit="char"``)."""
    if unit == "word":
        return text.split()
    if unit == "char":
        return [c for c in text if not c.isspace()]
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")


def error_rate(
    refs: Sequence[str],
    hyps: Sequence[str],
    ids: Sequence[str] | None = None,
    unit: str = "word",
) -> ErrorRate:
    """Corpus WER (``unit="word"``) or CER (``unit="char"``) over parallel lists of strings."""
    if len(refs) != len(hyps):
        raise ValueError(f"refs and hyps must have the same length, got {len(refs)} and {len(hyps)}")
    ids = list(ids) if ids is not None else [str(i) for i in range(len(refs))]
    result = ErrorRate(unit=unit)
    for utt_id, ref, hyp in zip(ids, refs, hyps):
        alignment = align(tokenize_for_error_rate(ref, unit), tokenize_for_error_rate(hyp, unit))
        result.num_ref += sum(1 for o, _, _ in alignment.ops if o != "I")
        result.substitutions += alignment.count("S")
        result.deletions += alignment.count("D")
        result.insertions += alignment.count("I")
        result.num_utterances += 1
        result.per_utterance.append((utt_id, alignment))
    return result


def format_error_details(result: ErrorRate) -> str:
    """Per-utterance error file: the summary, then for each utterance its counts and aligned ref/hyp."""
    lines = [result.summary(), ""]
    for utt_id, alignment in result.per_utterance:
        counts = " ".join(f"{op}={alignment.count(op)}" for op in "SDI")
        ref_side = " ".join(r if o != "I" else "*" for o, r, _ in alignment.ops)
        hyp_side = " ".join(h if o != "D" else "*" for o, _, h in alignment.ops)
        lines += [f"{utt_id} {counts}", f"  ref: {ref_side}", f"  hyp: {hyp_side}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# BLEU and chrF++


@dataclass
class TranslationScore:
    """Corpus BLEU and chrF++ with sacrebleu signatures; ``length_ratio`` = hyp / ref length in BLEU's tokens."""

    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    length_ratio: float
    num_refs: int
    num_segments: int
    bleu_detail: str

    def summary(self) -> str:
        return (
            f"BLEU {self.bleu:.2f} ({self.bleu_signature}) | chrF++ {self.chrf:.2f} ({self.chrf_signature}) | "
            f"length ratio {self.length_ratio:.3f} | {self.num_segments} segments, {self.num_refs} reference(s)"
        )


def check_streams(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    """ValueError unless ``refs`` holds at least one reference stream, each as long as ``hyps``."""
    if not refs:
        raise ValueError("refs must hold at least one reference stream")
    for k, stream in enumerate(refs):
        if len(stream) != len(hyps):
            raise ValueError(f"reference stream {k} has {len(stream)} segments, hypotheses have {len(hyps)}")


def bleu_metric() -> BLEU:
    """The BLEU of every score here: sacrebleu's corpus BLEU, lowercased, tokenizer 13a, exponential smoothing."""
    return BLEU(lowercase=True, tokenize="13a")


def translation_score(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> TranslationScore:
    """Corpus BLEU (:func:`bleu_metric`) and chrF++ of ``hyps`` against ``refs[k][i]`` (reference k of segment i)."""
    check_streams(hyps, refs)
    bleu_scorer = bleu_metric()
    chrf_scorer = CHRF(word_order=2)
    ref_lists = [list(stream) for stream in refs]
    bleu = bleu_scorer.corpus_score(list(hyps), ref_lists)
    chrf = chrf_scorer.corpus_score(list(hyps), ref_lists)
    ratio = bleu.sys_len / bleu.ref_len if bleu.ref_len else float("nan")
    return TranslationScore(
        bleu=bleu.score,
        bleu_signature=str(bleu_scorer.get_signature()),
        chrf=chrf.score,
        chrf_signature=str(chrf_scorer.get_signature()),
        length_ratio=ratio,
        num_refs=len(refs),
        num_segments=len(hyps),
        bleu_detail=str(bleu),
    )


# ---------------------------------------------------------------------------------------------------------
# Word order, and scores split by reordering


@dataclass
class WordOrderScore:
    """Corpus RIBES and mean normalised Kendall tau (both in percent); see the module docstring.

    ``kendall_tau`` averages over the ``num_matched`` segments with at least two matched words (fewer carry no
    order); ``ribes`` over all ``num_segments`` (a segment with fewer than two matches scores 0)."""

    ribes: float
    kendall_tau: float
    num_segments: int
    num_matched: int


def _order_tokens(text: str, tokenizer: Tokenizer13a) -> list[str]:
    return tokenizer(text.lower()).split()


def word_order_score(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> WordOrderScore:
    """RIBES and Kendall tau of ``hyps`` against ``refs[k][i]`` (reference k of segment i), nltk's implementation."""
    from nltk.translate.ribes_score import kendall_tau, word_rank_alignment

    check_streams(hyps, refs)
    tokenizer = Tokenizer13a()
    ribes_sum, tau_sum, matched = 0.0, 0.0, 0
    for i, hyp in enumerate(hyps):
        hyp_tokens = _order_tokens(hyp, tokenizer)
        # per reference: (RIBES, has an order, NKT); the best RIBES counts, ties go to a reference with an order
        candidates = [(0.0, False, 0.0)]
        for stream in refs:
            ref_tokens = _order_tokens(stream[i], tokenizer)
            if not hyp_tokens or not ref_tokens:
                continue
            worder = word_rank_alignment(ref_tokens, hyp_tokens)
            nkt = kendall_tau(worder) if len(worder) >= 2 else 0.0
            precision = len(worder) / len(hyp_tokens)
            brevity = min(1.0, math.exp(1.0 - len(ref_tokens) / len(hyp_tokens)))
            candidates.append((nkt * precision**0.25 * brevity**0.10, len(worder) >= 2, nkt))
        ribes, has_order, nkt = max(candidates)
        ribes_sum += ribes
        if has_order:
            tau_sum += nkt
            matched += 1
    n = len(hyps)
    return WordOrderScore(
        ribes=100.0 * ribes_sum / n if n else float("nan"),
        kendall_tau=100.0 * tau_sum / matched if matched else float("nan"),
        num_segments=n,
        num_matched=matched,
    )


# (name, min crossings, max crossings or None) of the subsets :func:`reordering_scores` reports
REORDERING_SUBSETS: tuple[tuple[str, int, int | None], ...] = (
    ("all", 0, None), ("monotone", 0, 0), ("reordered", 1, None), ("reordered_10", 10, None),
)


def reordering_scores(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    crossings: Sequence[int],
    subsets: Sequence[tuple[str, int, int | None]] = REORDERING_SUBSETS,
) -> dict[str, dict]:
    """BLEU, chrF++, length ratio, RIBES and Kendall tau on subsets of the segments chosen by ``crossings``.

    ``crossings[i]`` is the number of crossing links of segment i's word alignment (0: monotone translation).
    Returns ``{name: {"num_segments", "bleu", "chrf", "length_ratio", "ribes", "kendall_tau", "bleu_signature",
    "chrf_signature", "num_refs"}}`` for each subset ``(name, low, high)`` (segments with low <= crossings <=
    high; high None: no upper bound); a subset without segments holds only ``num_segments`` = 0; ``kendall_tau`` is
    None when no segment of the subset has two matched words.
    """
    check_streams(hyps, refs)
    if len(crossings) != len(hyps):
        raise ValueError(f"crossings has {len(crossings)} entries, hypotheses have {len(hyps)}")
    bad = [c for c in crossings if isinstance(c, bool) or not isinstance(c, int) or c < 0]
    if bad:
        raise ValueError(f"crossings must be integers >= 0 (crossing alignment links per segment), got {bad[:3]}")
    out: dict[str, dict] = {}
    for name, low, high in subsets:
        keep = [i for i, c in enumerate(crossings) if c >= low and (high is None or c <= high)]
        if not keep:
            out[name] = {"num_segments": 0}
            continue
        sub_hyps = [hyps[i] for i in keep]
        sub_refs = [[stream[i] for i in keep] for stream in refs]
        score = translation_score(sub_hyps, sub_refs)
        order = word_order_score(sub_hyps, sub_refs)
        out[name] = {
            "num_segments": len(keep), "bleu": score.bleu, "chrf": score.chrf, "length_ratio": score.length_ratio,
            "ribes": order.ribes, "kendall_tau": order.kendall_tau if order.num_matched else None,
            "bleu_signature": score.bleu_signature,
            "chrf_signature": score.chrf_signature, "num_refs": score.num_refs,
        }
    return out


# ---------------------------------------------------------------------------------------------------------
# Kaldi-style text files


def read_kaldi_text(path: str | Path) -> dict[str, str]:
    """Read ``utt-id text`` lines (text may be empty); duplicate ids are an error naming the file and line."""
    out: dict[str, str] = {}
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found; expected Kaldi-style lines 'utt-id text'")
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of the first id
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            utt_id = parts[0]
            if utt_id in out:
                raise ValueError(f"{path}:{lineno}: duplicate utterance id {utt_id!r}; keep one line per utterance "
                                 "id (remove or rename the repeated one)")
            out[utt_id] = parts[1] if len(parts) > 1 else ""
    return out


def match_ids(
    hyps: dict[str, str], refs: dict[str, str], hyp_name: str = "hypotheses", ref_name: str = "references"
) -> list[str]:
    """Sorted common ids; ids present in only one side raise an error listing a few of them."""
    only_hyp = sorted(set(hyps) - set(refs))
    only_ref = sorted(set(refs) - set(hyps))
    if only_hyp or only_ref:
        parts = []
        if only_ref:
            parts.append(f"{len(only_ref)} id(s) in {ref_name} missing from {hyp_name}, e.g. {only_ref[:3]}")
        if only_hyp:
            parts.append(f"{len(only_hyp)} id(s) in {hyp_name} missing from {ref_name}, e.g. {only_hyp[:3]}")
        raise ValueError("; ".join(parts) + ". Score files made from the same test set.")
    return sorted(refs)


def normalize_all(texts: Sequence[str], normalizer: Callable[[str], str]) -> list[str]:
    return [normalizer(t) for t in texts]


__all__ = [
    "Alignment", "align", "ErrorRate", "error_rate", "format_error_details", "tokenize_for_error_rate",
    "check_streams", "bleu_metric", "TranslationScore", "translation_score", "WordOrderScore", "word_order_score",
    "REORDERING_SUBSETS",
    "reordering_scores", "read_kaldi_text", "match_ids", "normalize_all",
]
