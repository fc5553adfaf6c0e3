"""Aligned phrase algebra for the synthetic speech-translation grammars.

A ``Phrase`` is a source word sequence, its spoken form (one entry per source word: the same word, or a
diacritised spelling for Arabic), a target (English) word sequence and a word alignment: a set of links
``(i, j)`` meaning source word ``i`` translates (part of) target word ``j``. Grammars build sentences from
words with two operations:

- ``cat(a, b, ...)``: the parts in the same order on both sides (monotone);
- ``arrange(parts, order)``: the parts in the given order on the source side and in the order ``order`` (a
  permutation of part indices) on the target side: this is how a grammar states that word order differs.

A phrase also carries ``combos``: word combinations (such as a noun with an adjective, a verb with its
object) that the corpus builder may hold out of the training split.

A swap is a pair of links ``(i1, j1), (i2, j2)`` with ``i1 < i2`` and ``j1 > j2``: two words whose order is
reversed by the translation; ``count_swaps`` counts them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Phrase",
    "Sentence",
    "arrange",
    "cat",
    "count_swaps",
    "empty",
    "english_article",
    "render",
    "src_only",
    "tgt_only",
    "word",
]

Combo = tuple[str, ...]


@dataclass(frozen=True)
class Phrase:
    """An aligned pair of word sequences; ``links`` index ``src`` (first) and ``tgt`` (second)."""

    src: tuple[str, ...]
    spoken: tuple[str, ...]
    tgt: tuple[str, ...]
    links: tuple[tuple[int, int], ...]
    combos: tuple[Combo, ...] = ()

    def with_combo(self, *combo: str) -> Phrase:
        """The same phrase, also carrying the word combination ``combo``."""
        return Phrase(self.src, self.spoken, self.tgt, self.links, self.combos + (tuple(combo),))


def word(src: str, tgt: str, spoken: str | None = None) -> Phrase:
    """One source word aligned to every word of ``tgt`` (``tgt`` may be several words, e.g. "look for")."""
    targets = tuple(tgt.split())
    return Phrase((src,), (spoken or src,), targets, tuple((0, j) for j in range(len(targets))))


def src_only(src: str, spoken: str | None = None) -> Phrase:
    """A source word with no English counterpart (e.g. a Mandarin measure word)."""
    return Phrase((src,), (spoken or src,), (), ())


def tgt_only(tgt: str) -> Phrase:
    """English words with no source counterpart (e.g. the English copula for an Arabic nominal sentence)."""
    return Phrase((), (), tuple(tgt.split()), ())


def empty() -> Phrase:
    """The empty phrase (neutral element of ``cat``)."""
    return Phrase((), (), (), ())


def arrange(parts: Sequence[Phrase], order: Sequence[int]) -> Phrase:
    """Source side: ``parts`` in order; target side: ``parts[order[0]], parts[order[1]], ...``."""
    if sorted(order) != list(range(len(parts))):
        raise ValueError(f"order must be a permutation of 0..{len(parts) - 1}, got {list(order)}.")
    src_offsets, offset = [], 0
    for part in parts:
        src_offsets.append(offset)
        offset += len(part.src)
    tgt_offsets = [0] * len(parts)
    offset = 0
    for index in order:
        tgt_offsets[index] = offset
        offset += len(parts[index].tgt)
    links = tuple(
        (i + src_offsets[k], j + tgt_offsets[k]) for k, part in enumerate(parts) for i, j in part.links
    )
    return Phrase(
        src=tuple(w for part in parts for w in part.src),
        spoken=tuple(w for part in parts for w in part.spoken),
        tgt=tuple(w for index in order for w in parts[index].tgt),
        links=tuple(sorted(links)),
        combos=tuple(c for part in parts for c in part.combos),
    )


def cat(*parts: Phrase) -> Phrase:
    """Monotone concatenation: the same order on both sides."""
    return arrange(parts, range(len(parts)))


def count_swaps(links: Sequence[tuple[int, int]]) -> int:
    """Number of link pairs ``(i1, j1), (i2, j2)`` with ``i1 < i2`` and ``j1 > j2`` (brute force, O(L^2))."""
    return sum(1 for a in links for b in links if a[0] < b[0] and a[1] > b[1])


@dataclass(frozen=True)
class Sentence:
    """A generated sentence pair: transcript, text to speak, English translation and word alignment."""

    text: str
    spoken: str
    translation: str
    src_words: tuple[str, ...]
    tgt_words: tuple[str, ...]
    links: tuple[tuple[int, int], ...]
    combos: tuple[Combo, ...]


Grammar = Callable[[random.Random], Phrase]


def render(phrase: Phrase, join_src: str = " ", speak: Callable[[Phrase], str] | None = None) -> Sentence:
    """Turn a sentence-level phrase into a ``Sentence``; ``join_src`` is "" for unsegmented scripts."""
    if not phrase.src or not phrase.tgt:
        raise ValueError("a sentence needs at least one source and one target word.")
    spoken = speak(phrase) if speak is not None else " ".join(phrase.spoken)
    return Sentence(
        text=join_src.join(phrase.src),
        spoken=spoken,
        translation=" ".join(phrase.tgt),
        src_words=phrase.src,
        tgt_words=phrase.tgt,
        links=phrase.links,
        combos=phrase.combos,
    )


def english_article(next_word: str) -> str:
    """The English indefinite article before ``next_word``: "an" before a vowel letter, else "a"."""
    return "an" if next_word[:1] in "aeiou" else "a"
