"""The cut schema shared by every corpus (docs/architecture.md, "The cut schema") and its validation.

One lhotse ``Cut`` per utterance. Its supervision carries:

- ``text``: the source-language transcript (the ASR target);
- ``language``: ISO code of the source language (``aeb``, ``es``, ``zh``, ...);
- ``custom["translated_text"][lang]``: the speech-translation target (``lang`` is ``"en"`` by default);
- optionally ``custom["translated_refs"][lang]``: a list of reference translations, for corpora with
  several references.

This follows lhotse's speech-translation convention, so lhotse tools read these manifests unchanged.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from lhotse import SupervisionSegment
from lhotse.cut import Cut

__all__ = [
    "SchemaError",
    "blank_kind",
    "make_supervision",
    "source_text",
    "target_refs",
    "target_text",
    "validate_cuts",
]

TRANSLATED_TEXT = "translated_text"
TRANSLATED_REFS = "translated_refs"

_FIX_LINE = (
    "Fix: re-run the corpus preparation (stage 0) so that every cut has a unique id and a positive duration, and "
    "every supervision a non-empty `text`, a `language` code and custom['translated_text']['{lang}']; or drop "
    "these cuts before this step."
)


_MAX_LISTED = 50


class SchemaError(ValueError):
    """Raised when cuts do not follow the cut schema; the message names the offending cuts."""


def _invisible(char: str) -> bool:
    """Whitespace, control and format characters (zero-width space/joiners, byte-order mark, direction marks)."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def blank_kind(text: object) -> str | None:
    """None if ``text`` is a string with a visible character, else what it is: "empty", "whitespace-only",
    "invisible-only (zero-width or format characters)" or "not a string"."""
    if not isinstance(text, str):
        return "not a string"
    if not text:
        return "empty"
    if text.isspace():
        return "whitespace-only"
    if all(_invisible(c) for c in text):
        return "invisible-only (zero-width or format characters)"
    return None


def _check_text(name: str, value: object) -> str:
    if blank_kind(value) is not None:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}; pass the transcript text.")
    return value


def make_supervision(
    id: str,
    recording_id: str,
    start: float,
    duration: float,
    channel: int,
    text: str,
    language: str,
    translation: str,
    speaker: str | None = None,
    translation_refs: Sequence[str] | None = None,
    target_language: str = "en",
) -> SupervisionSegment:
    """Build a supervision in the cut schema.

    ``text`` is the source transcript, ``translation`` the (first) target-language translation; with
    ``translation_refs`` (all references, the first usually equal to ``translation``) the supervision also
    carries ``custom["translated_refs"][target_language]``.
    """
    _check_text("id", id)
    _check_text("recording_id", recording_id)
    if start < 0:
        raise ValueError(f"start must be >= 0 seconds, got {start} for supervision {id!r}.")
    if not duration > 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration} for supervision {id!r}.")
    _check_text(f"text (supervision {id!r})", text)
    _check_text(f"language (supervision {id!r})", language)
    _check_text(f"translation (supervision {id!r})", translation)
    _check_text("target_language", target_language)
    custom: dict = {TRANSLATED_TEXT: {target_language: translation}}
    if translation_refs is not None:
        refs = list(translation_refs)
        if not refs or any(blank_kind(r) for r in refs):
            raise ValueError(
                f"translation_refs (supervision {id!r}) must be a non-empty list of non-empty strings, "
                f"got {translation_refs!r}; pass None when there is a single reference."
            )
        custom[TRANSLATED_REFS] = {target_language: refs}
    return SupervisionSegment(
        id=id,
        recording_id=recording_id,
        start=start,
        duration=duration,
        channel=channel,
        text=text,
        language=language,
        speaker=speaker,
        custom=custom,
    )


def _supervisions(cut: Cut) -> list[SupervisionSegment]:
    if not cut.supervisions:
        raise SchemaError(f"cut {cut.id!r} has no supervision.\n" + _FIX_LINE.format(lang="en"))
    return list(cut.supervisions)


def source_text(cut: Cut) -> str:
    """The source transcript of ``cut`` (supervision texts joined by a space, in order)."""
    return " ".join((s.text or "").strip() for s in _supervisions(cut)).strip()


def _translation(sup: SupervisionSegment, lang: str) -> str | None:
    custom = sup.custom or {}
    value = (custom.get(TRANSLATED_TEXT) or {}).get(lang)
    return value if isinstance(value, str) else None


def target_text(cut: Cut, lang: str = "en") -> str:
    """The ``lang`` translation of ``cut`` (supervision translations joined by a space, in order).

    Raises ``SchemaError`` when a supervision has no translation into ``lang``.
    """
    parts = []
    for sup in _supervisions(cut):
        value = _translation(sup, lang)
        if value is None:
            raise SchemaError(
                f"cut {cut.id!r}: supervision {sup.id!r} has no custom['{TRANSLATED_TEXT}']['{lang}'].\n"
                + _FIX_LINE.format(lang=lang)
            )
        parts.append(value.strip())
    return " ".join(parts).strip()


def target_refs(cut: Cut, lang: str = "en") -> list[str]:
    """All reference translations of ``cut`` into ``lang``: the refs if present, else ``[target_text]``.

    Only single-supervision cuts can carry several references; for others the joined ``target_text`` is
    the single reference.
    """
    sups = _supervisions(cut)
    if len(sups) == 1:
        refs = ((sups[0].custom or {}).get(TRANSLATED_REFS) or {}).get(lang)
        if refs:
            return [str(r) for r in refs]
    return [target_text(cut, lang)]


def _cut_problems(cut: Cut, require_translation: bool, lang: str, require_supervision: bool) -> list[str]:
    problems = []
    if not cut.duration or cut.duration <= 0:
        problems.append(f"duration {cut.duration} (must be > 0)")
    if not cut.supervisions:
        if require_supervision:
            problems.append("no supervision")
        return problems
    for sup in cut.supervisions:
        where = f"supervision {sup.id!r}: " if len(cut.supervisions) > 1 else ""
        kind = blank_kind(sup.text)
        if kind is not None:
            problems.append(f"{where}{kind} text")
        if not sup.language:
            problems.append(f"{where}missing language")
        if sup.duration is None or sup.duration <= 0:
            problems.append(f"{where}supervision duration {sup.duration} (must be > 0)")
        if require_translation:
            value = _translation(sup, lang)
            if value is None:
                problems.append(f"{where}missing translation custom['{TRANSLATED_TEXT}']['{lang}']")
            elif blank_kind(value) is not None:
                problems.append(f"{where}{blank_kind(value)} translation custom['{TRANSLATED_TEXT}']['{lang}']")
        refs = ((sup.custom or {}).get(TRANSLATED_REFS) or {}).get(lang)
        if refs is not None and (not isinstance(refs, (list, tuple)) or not refs or any(blank_kind(r) for r in refs)):
            problems.append(
                f"{where}custom['{TRANSLATED_REFS}']['{lang}'] is not a list of non-empty strings"
            )
    return problems


def validate_cuts(
    cuts: Iterable[Cut], require_translation: bool = True, lang: str = "en", require_supervision: bool = True
) -> int:
    """Check every cut against the schema in one pass; return the number of cuts, or raise ``SchemaError``.

    Checked: cut ids are unique; the cut has a positive duration and at least one supervision (unless
    ``require_supervision`` is False, for noise cuts); each supervision has a ``text`` with a visible character
    (not empty, whitespace-only or made of zero-width characters), a ``language``, a positive duration and (when
    ``require_translation``) such a ``custom["translated_text"][lang]``; ``translated_refs``, when present, is a
    list of such strings. The message lists the first 50 offending cut ids with their problems and counts all.
    """
    lines = []
    num_bad = 0
    seen: set[str] = set()
    duplicates: Counter = Counter()
    num_cuts = 0
    for cut in cuts:
        num_cuts += 1
        if cut.id in seen:
            duplicates[cut.id] += 1
        else:
            seen.add(cut.id)
        problems = _cut_problems(cut, require_translation, lang, require_supervision)
        if problems:
            num_bad += 1
            if len(lines) < _MAX_LISTED:
                lines.append(f"  {cut.id}: " + "; ".join(problems))
    for cut_id, extra in duplicates.items():
        num_bad += 1
        if len(lines) < _MAX_LISTED:
            lines.append(f"  {cut_id}: duplicate cut id ({extra + 1} cuts share it)")
    if lines:
        more = num_bad - len(lines)
        raise SchemaError(
            f"{num_bad} cut(s) violate the cut schema:\n"
            + "\n".join(lines)
            + (f"\n  ... and {more} more" if more > 0 else "")
            + "\n"
            + _FIX_LINE.format(lang=lang)
        )
    return num_cuts
