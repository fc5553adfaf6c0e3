"""Text normalisers used to prepare corpora and to score hypotheses.

Each function maps one string to one string and is idempotent. The conventions are those of the corpora's
official scoring:

- IWSLT 2022 dialect task (Tunisian Arabic → English), the shared task's ``1_prepare_stm.py``:
  English: remove ``( ) # + = ? ! ; . , " :`` and lowercase; Tunisian: remove the annotation markers
  ``O/ U/ M/ UM/ UO/`` (the official pattern ``[OUM]+/*`` — it also drops any stray capital O, U, M, which do
  not occur in Arabic-script text) and ``؟ ? ! .``.
- IWSLT 2022 additional Arabic normalisation for WER (the task's ``wer_cer.py``): keep Arabic letters, digits and
  spaces; ة→ه, ى→ي, أ/إ/آ→ا.
- Fisher/CallHome Spanish–English ``lc.rm`` (Post et al. 2013 evaluation convention): lowercase and remove
  punctuation except apostrophes.
- Mandarin character error rate: full-width characters to half-width, punctuation removed, spaces removed
  (CER is computed on characters).

All normalisers also collapse runs of white space and strip the ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_SPACES = re.compile(r"\s+")

_IWSLT22_EN_STRIP = re.compile(r"[()#+=?!;.,\":]")
_IWSLT22_TA_STRIP = re.compile(r"[OUM]+/*|\u061F|\?|!|\.")
_ARABIC_WER_KEEP = re.compile("[^اأإآبتثجحخدذرزسشصضطظعغفقكلمنهويىئءؤة0-9 ]")
_ARABIC_WER_MAP = str.maketrans({"ة": "ه", "ى": "ي", "أ": "ا", "إ": "ا", "آ": "ا"})


def _squeeze(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def normalize_iwslt22_english(text: str) -> str:
    """IWSLT 2022 English: remove ``( ) # + = ? ! ; . , " :``, lowercase."""
    return _squeeze(_IWSLT22_EN_STRIP.sub("", text).lower())


def normalize_iwslt22_tunisian(text: str) -> str:
    """IWSLT 2022 Tunisian: remove the ``O/ U/ M/`` annotation markers and ``؟ ? ! .``."""
    return _squeeze(_IWSLT22_TA_STRIP.sub("", text))


def normalize_arabic_for_wer(text: str) -> str:
    """Additional Arabic normalisation for WER: Arabic letters and digits only; ة→ه, ى→ي, أ/إ/آ→ا."""
    return _squeeze(_ARABIC_WER_KEEP.sub("", text).translate(_ARABIC_WER_MAP))


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith(("P", "S"))


def normalize_lc_rm(text: str) -> str:
    """Fisher/CallHome ``lc.rm``: lowercase, remove punctuation (Unicode P*/S* classes) except apostrophes."""
    kept = "".join(" " if _is_punctuation(c) and c != "'" else c for c in text.lower())
    return _squeeze(kept)


def to_half_width(text: str) -> str:
    """Map full-width ASCII variants (U+FF01..U+FF5E) and the ideographic space to their half-width forms."""
    out = []
    for char in text:
        code = ord(char)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(char)
    return "".join(out)


def normalize_mandarin(text: str) -> str:
    """Mandarin: full-width → half-width, punctuation removed, all spaces removed (scored on characters)."""
    half = to_half_width(text)
    return "".join(c for c in half if not _is_punctuation(c) and not c.isspace())


def identity(text: str) -> str:
    """No normalisation beyond collapsing white space."""
    return _squeeze(text)


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "none": identity,
    "iwslt22_en": normalize_iwslt22_english,
    "iwslt22_ta": normalize_iwslt22_tunisian,
    "arabic_wer": normalize_arabic_for_wer,
    "lc_rm": normalize_lc_rm,
    "mandarin": normalize_mandarin,
}


def get_normalizer(name: str) -> Callable[[str], str]:
    """Return the normaliser registered under ``name`` (one of :data:`NORMALIZERS`)."""
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown text normaliser {name!r}; valid names: {', '.join(sorted(NORMALIZERS))}"
        ) from None
