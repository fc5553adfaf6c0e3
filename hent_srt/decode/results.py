"""RESULTS.md tables: one section per model and decoding setting, one row per ST blank penalty, test sets as
columns.

Streaming decodes (summaries whose ST rows carry ``latency``) add, per test set, the mean first-token delay and
average lagging of the translation in seconds (:mod:`hent_srt.decode.latency`).

Summaries whose ST rows carry ``reordering`` (corpora that record each segment's crossing alignment links, see
:func:`hent_srt.metrics.reordering_scores`) get a second table: BLEU, chrF++ and RIBES on the monotone segments
(0 crossings), the reordered ones (>= 1) and the strongly reordered ones (>= 10), with the segment counts.

Summaries with an adaptive ST blank penalty (``st_adaptive``, :mod:`hent_srt.decode.adaptive`) get an
``adaptive`` row below the constant penalties in both tables, and a note per test set with the estimator and
tuned ratio, the dev set it was tuned on, the chosen penalties' mean and histogram, and the dev-best constant penalty's BLEU on
the same test set beside the adaptive one.

Sections are keyed by their heading, which names the model and the setting (:func:`section_heading`): writing a
section again replaces it, a decode with another setting adds its own, the others are kept. Each table carries
the sacrebleu signature of its BLEU column and the exact commands that produced it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hent_srt.decode.adaptive import ST_CTC
from hent_srt.fileio import write_text_atomic


def section_heading(model_name: str, setting_label: str) -> str:
    """``<model> — <setting>``: the heading text of one model's section for one decoding setting."""
    return f"{model_name} — {setting_label}"


def format_section(model_name: str, method: str, summaries: Sequence[dict], comment: str,
                   commands: Sequence[str]) -> str:
    """Markdown section from the ``summary-<set>.json`` dicts written by ``hent-srt decode``."""
    sets = [s["set"] for s in summaries]
    penalties = sorted({row["blank_penalty"] for s in summaries for row in s.get("st", [])}) or [None]
    latency = any("latency" in row for s in summaries for row in s.get("st", []))
    per_set = 6 if latency else 4
    header = "| decoding | ST blank penalty | " + " | ".join(
        f"{name} {s['asr']['metric'] if 'asr' in s else 'WER'} | {name} BLEU | {name} chrF++ | {name} len. ratio"
        + (f" | {name} first-token delay (s) | {name} AL (s)" if latency else "")
        for name, s in zip(sets, summaries)
    ) + " | comment |"
    rule = "|" + "---|" * (3 + per_set * len(sets))
    rows = []
    for penalty in _row_penalties(penalties, summaries):
        cells = [method, _penalty_cell(penalty)]
        for s in summaries:
            cells.append(f"{s['asr']['error_rate']:.2f}" if "asr" in s else "—")
            st = _st_row(s, penalty)
            cells += _st_cells(st)
            if latency:
                lat = (st or {}).get("latency") or {}
                cells += [_seconds(lat.get("first_token_delay")), _seconds(lat.get("average_lagging"))]
        rows.append("| " + " | ".join(cells) + f" | {comment} |")
    signatures = sorted({r["bleu_signature"] for s in summaries for r in s.get("st", [])})
    lines = [f"## {model_name}", "", header, rule, *rows, ""]
    lines += _adaptive_notes(summaries)
    lines += _reordering_table(method, penalties, summaries)
    if signatures:
        lines.append("BLEU signature: " + "; ".join(f"`{sig}`" for sig in signatures))
        lines.append("")
    lines += ["Commands:", "", "```sh", *commands, "```", ""]
    return "\n".join(lines)


REORDERING_COLUMNS = (("monotone", "bleu", "BLEU"), ("reordered", "bleu", "BLEU"), ("reordered_10", "bleu", "BLEU"),
                      ("monotone", "chrf", "chrF++"), ("reordered", "chrf", "chrF++"),
                      ("monotone", "ribes", "RIBES"), ("reordered", "ribes", "RIBES"))
SUBSET_LABELS = {"monotone": "0 crossings", "reordered": ">= 1 crossing", "reordered_10": ">= 10 crossings"}


def _adaptive_notes(summaries: Sequence[dict]) -> list[str]:
    """One line per test set decoded with the adaptive penalty (none without)."""
    lines = []
    for s in summaries:
        st = s.get("st_adaptive")
        if st is None:
            continue
        best = st["dev_best_constant"]
        chosen = ", ".join(f"{p}: {n}" for p, n in st["histogram"].items())
        unit = "characters" if st["source_unit"] == "char" else "words"
        source = "ST CTC hypothesis" if st.get("estimator") == ST_CTC else "ASR hypothesis"
        lines.append(
            f"Adaptive ST blank penalty on {s['set']}: each utterance takes the grid penalty whose translation length is "
            f"closest to {st['ratio']:.3f} × its {source} length in {unit}, ties to the penalty closest to "
            f"{best['blank_penalty']:g} (ratio and penalty tuned on {st['dev_set']}); chosen penalties: mean "
            f"{st['mean_penalty']:.2f}, histogram {{{chosen}}}{_estimate_error(st)}. The dev-best constant penalty "
            f"{best['blank_penalty']:g} scores BLEU {best['bleu']:.2f} on {s['set']}, adaptive {st['bleu']:.2f} "
            f"({st['bleu'] - best['bleu']:+.2f}).")
    return lines + [""] if lines else []


def _estimate_error(st: dict) -> str:
    """The note's clause on the mean error of the length estimates (empty for summaries written without it)."""
    error = st.get("length_estimate_error")
    return "" if error is None else f"; the length estimates miss the reference length by {error:.2f} words on average"


def _reordering_table(method: str, penalties: Sequence[float | None], summaries: Sequence[dict]) -> list[str]:
    """Markdown lines of the reordering table (none when no summary carries ``reordering``)."""
    with_split = [s for s in summaries if any("reordering" in r for r in s.get("st", []))]
    if not with_split:
        return []

    def counts(s: dict) -> dict[str, int]:
        first = next(r["reordering"] for r in s["st"] if "reordering" in r)
        return {name: first[name]["num_segments"] for name in SUBSET_LABELS}

    header = "| decoding | ST blank penalty | " + " | ".join(
        f"{s['set']} {metric} {SUBSET_LABELS[subset]} ({counts(s)[subset]})"
        for s in with_split for subset, _, metric in REORDERING_COLUMNS
    ) + " |"
    rows = []
    for penalty in _row_penalties(penalties, with_split):
        cells = [method, _penalty_cell(penalty)]
        for s in with_split:
            cells += _split_cells((_st_row(s, penalty) or {}).get("reordering", {}))
        rows.append("| " + " | ".join(cells) + " |")
    rule = "|" + "---|" * (2 + len(REORDERING_COLUMNS) * len(with_split))
    return ["Split by reordering (crossing alignment links of each test sentence; segment counts in brackets):", "",
            header, rule, *rows, ""]


def _row_penalties(penalties: Sequence[float | None], summaries: Sequence[dict]) -> list[float | str | None]:
    """The rows of a table: the constant penalties, then ``"adaptive"`` when a summary has ``st_adaptive``."""
    return [*penalties, *(["adaptive"] if any("st_adaptive" in s for s in summaries) else [])]


def _st_row(summary: dict, penalty: float | str | None) -> dict | None:
    """The ST row of ``summary`` at ``penalty`` (``"adaptive"``: its ``st_adaptive`` entry); None without one."""
    if penalty == "adaptive":
        return summary.get("st_adaptive")
    return next((r for r in summary.get("st", []) if r["blank_penalty"] == penalty), None)


def _penalty_cell(penalty: float | str | None) -> str:
    return "—" if penalty is None else penalty if isinstance(penalty, str) else f"{penalty:g}"


def _st_cells(st: dict | None) -> list[str]:
    """BLEU, chrF++ and length ratio cells of one ST row (dashes without one)."""
    return [f"{st['bleu']:.2f}", f"{st['chrf']:.2f}", f"{st['length_ratio']:.3f}"] if st else ["—"] * 3


def _split_cells(split: dict) -> list[str]:
    """The :data:`REORDERING_COLUMNS` cells of one row's ``reordering`` entry (dashes for empty subsets)."""
    return [f"{split[subset][key]:.2f}" if split.get(subset, {}).get("num_segments") else "—"
            for subset, key, _ in REORDERING_COLUMNS]


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def write_section(path: Path, section: str) -> None:
    """Insert or replace ``section`` (keyed by its ``## `` heading) in the markdown file ``path``, atomically."""
    heading = section.splitlines()[0]
    if not heading.startswith("## "):
        raise ValueError("a RESULTS.md section must start with a '## ' heading")
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Results\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    new_text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text) if pattern.search(text) else (
        text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    )
    write_text_atomic(path, new_text)
