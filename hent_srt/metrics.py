"""Scoring: word/character error rates with edit operations, corpus BLEU and chrF++ through sacrebleu.

Error rate: for each utterance a minimum-edit-distance alignment of hypothesis tokens to reference tokens
(substitution, deletion, insertion each cost 1); ``ER = (S + D + I) / N`` with N the number of reference tokens
over the corpus. Among alignments of minimal cost the reported one prefers, in this order, a match/substitution,
then a deletion, then an insertion at each step of the traceback (as Kaldi's ``compute-wer`` does).

BLEU: sacrebleu's corpus BLEU, lowercased, tokenizer 13a; chrF++: ``CHRF(word_order=2)``. Every score is
returned with its sacrebleu signature, which names the number of references. Several references per segment are
supported (Fisher dev/dev2/test have four).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

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

    def summary(self) -> str:
        name = "WER" if self.unit == "word" else "CER"
        return (
            f"{name} {self.rate:.2f}% [ {self.errors} / {self.num_ref}, {self.insertions} ins, "
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


def translation_score(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> TranslationScore:
    """Corpus BLEU (lowercased, 13a) and chrF++ of ``hyps`` against ``refs[k][i]`` (reference k of segment i)."""
    if not refs:
        raise ValueError("refs must hold at least one reference stream")
    for k, stream in enumerate(refs):
        if len(stream) != len(hyps):
            raise ValueError(f"reference stream {k} has {len(stream)} segments, hypotheses have {len(hyps)}")
    bleu_metric = BLEU(lowercase=True, tokenize="13a")
    chrf_metric = CHRF(word_order=2)
    ref_lists = [list(stream) for stream in refs]
    bleu = bleu_metric.corpus_score(list(hyps), ref_lists)
    chrf = chrf_metric.corpus_score(list(hyps), ref_lists)
    ratio = bleu.sys_len / bleu.ref_len if bleu.ref_len else float("nan")
    return TranslationScore(
        bleu=bleu.score,
        bleu_signature=str(bleu_metric.get_signature()),
        chrf=chrf.score,
        chrf_signature=str(chrf_metric.get_signature()),
        length_ratio=ratio,
        num_refs=len(refs),
        num_segments=len(hyps),
        bleu_detail=str(bleu),
    )


# ---------------------------------------------------------------------------------------------------------
# Kaldi-style text files


def read_kaldi_text(path: str | Path) -> dict[str, str]:
    """Read ``utt-id text`` lines (text may be empty); duplicate ids are an error naming the file and line."""
    out: dict[str, str] = {}
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found; expected Kaldi-style lines 'utt-id text'")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            utt_id = parts[0]
            if utt_id in out:
                raise ValueError(f"{path}:{lineno}: duplicate utterance id {utt_id!r}")
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
    "TranslationScore", "translation_score", "read_kaldi_text", "match_ids", "normalize_all",
]
