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

from collections.abc import Iterable, Sequence

from lhotse import SupervisionSegment
from lhotse.cut import Cut

__all__ = [
    "SchemaError",
    "make_supervision",
    "source_text",
    "target_refs",
    "target_text",
    "validate_cuts",
]

TRANSLATED_TEXT = "translated_text"
TRANSLATED_REFS = "translated_refs"

_FIX_LINE = (
    "Fix: re-run the corpus preparation (stage 0) so that every supervision has a non-empty `text`, a "
    "`language` code and custom['translated_text']['{lang}'], and every cut a positive duration; or drop "
    "these cuts before this step."
)


class SchemaError(ValueError):
    """Raised when cuts do not follow the cut schema; the message names every offending cut."""


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
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
        if not refs or not all(isinstance(r, str) and r.strip() for r in refs):
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


def _cut_problems(cut: Cut, require_translation: bool, lang: str) -> list[str]:
    problems = []
    if not cut.duration or cut.duration <= 0:
        problems.append(f"duration {cut.duration} (must be > 0)")
    if not cut.supervisions:
        problems.append("no supervision")
        return problems
    for sup in cut.supervisions:
        where = f"supervision {sup.id!r}: " if len(cut.supervisions) > 1 else ""
        if not isinstance(sup.text, str) or not sup.text.strip():
            problems.append(f"{where}empty text")
        if not sup.language:
            problems.append(f"{where}missing language")
        if sup.duration is None or sup.duration <= 0:
            problems.append(f"{where}supervision duration {sup.duration} (must be > 0)")
        if require_translation:
            value = _translation(sup, lang)
            if value is None:
                problems.append(f"{where}missing translation custom['{TRANSLATED_TEXT}']['{lang}']")
            elif not value.strip():
                problems.append(f"{where}empty translation custom['{TRANSLATED_TEXT}']['{lang}']")
        refs = ((sup.custom or {}).get(TRANSLATED_REFS) or {}).get(lang)
        if refs is not None and (
            not isinstance(refs, (list, tuple))
            or not refs
            or not all(isinstance(r, str) and r.strip() for r in refs)
        ):
            problems.append(
                f"{where}custom['{TRANSLATED_REFS}']['{lang}'] is not a list of non-empty strings"
            )
    return problems


def validate_cuts(cuts: Iterable[Cut], require_translation: bool = True, lang: str = "en") -> None:
    """Check every cut against the schema; raise ``SchemaError`` listing every violating cut id.

    Checked: the cut has a positive duration and at least one supervision; each supervision has a
    non-empty ``text``, a ``language``, a positive duration and (when ``require_translation``) a
    non-empty ``custom["translated_text"][lang]``; ``translated_refs``, when present, is a list of
    non-empty strings.
    """
    lines = []
    for cut in cuts:
        problems = _cut_problems(cut, require_translation, lang)
        if problems:
            lines.append(f"  {cut.id}: " + "; ".join(problems))
    if lines:
        raise SchemaError(
            f"{len(lines)} cut(s) violate the cut schema:\n"
            + "\n".join(lines)
            + "\n"
            + _FIX_LINE.format(lang=lang)
        )
