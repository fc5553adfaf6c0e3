"""Text files of the corpus releases, read line by line as the releases' own tools read them.

Every corpus reader (IWSLT22 Tunisian, Fisher/CALLHOME, HKUST, MUSAN) reads its text files through
:func:`read_lines`, so the quirks of released files are handled once:

- **Lines end at ``\\n`` only.** Post et al.'s Fisher/CALLHOME translation files hold lone carriage returns
  inside lines (``fisher_test.en.0`` has 17); their line numbers, like those of the LDC tools, count ``\\n``.
  Python's text mode and ``str.splitlines`` also break lines at ``\\r``, ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``,
  ``\\x85``, U+2028 and U+2029, which would shift every later line; here each of those is read as a space.
- **CRLF**: the ``\\r`` before ``\\n`` is removed.
- **Byte-order marks**: a UTF-8 or UTF-16 BOM at the start of the file says how it is encoded and is removed;
  a U+FEFF left inside the text (files concatenated with their BOMs) is removed too.
- **Encodings**: the caller names the encodings to try, in order, strictly. A UTF-8-first order recognises a
  copy that was converted to UTF-8 (text in GBK or ISO-8859-1 with non-ASCII characters is never valid
  UTF-8); a file that none of them decodes is a ``CorpusError`` naming the line and the byte.

Trailing blanks and tabs are kept: tabs separate fields in several releases, and each reader strips its fields.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Sequence
from pathlib import Path

from hent_srt.data.corpora.manifests import CorpusError

__all__ = ["INLINE_BREAKS", "read_lines"]

logger = logging.getLogger(__name__)

# What str.splitlines() breaks at besides "\n" (and "\r\n"): read as a space inside a line.
INLINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_AS_SPACE = str.maketrans(dict.fromkeys(INLINE_BREAKS, " ") | {"\ufeff": None})
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _decode(path: Path, data: bytes, encodings: Sequence[str], what: str) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError:
                break
    first_error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as err:
            first_error = first_error or err
    assert first_error is not None
    line = data[: first_error.start].count(b"\n") + 1
    names = " or ".join(encodings)
    raise CorpusError(
        f"{path}, line {line}: byte 0x{data[first_error.start]:02x} is not {names} text; expected {what} as "
        f"released ({names}). Restore the file from the release, or convert it to UTF-8 "
        "(iconv -f <its encoding> -t utf-8)."
    )


def read_lines(path: Path | str, encodings: Sequence[str] = ("utf-8",), what: str = "a text file") -> list[str]:
    """The lines of ``path``, split at ``\\n`` only, decoded with the first of ``encodings`` that fits.

    A byte-order mark overrides ``encodings``. In each line a final ``\\r`` is removed, any other line break
    character (:data:`INLINE_BREAKS`) becomes a space and U+FEFF is removed. A final ``\\n`` ends the last
    line (it does not start an empty one). ``what`` names the file in errors (``"the Fisher transcripts"``).
    Raises ``CorpusError`` when the file cannot be read or decoded.
    """
    path = Path(path)
    if not encodings:
        raise ValueError("encodings must name at least one encoding, e.g. ('utf-8',).")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CorpusError(f"cannot read {path}: {err.strerror or err}; expected {what}.") from None
    text, encoding = _decode(path, data, encodings, what)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    inline = 0
    for i, line in enumerate(lines):
        line = line.rstrip("\r")
        if any(c in line for c in INLINE_BREAKS) or "\ufeff" in line:
            inline += 1
            line = line.translate(_AS_SPACE)
        lines[i] = line
    if inline:
        logger.info(
            "%s: %d line(s) hold a carriage return, another line-break character or a byte-order mark inside "
            "the line; read as a space (lines end at \\n only, as the release's tools count them)",
            path,
            inline,
        )
    if encoding != encodings[0]:
        logger.debug("%s: read as %s (not %s)", path, encoding, encodings[0])
    return lines
