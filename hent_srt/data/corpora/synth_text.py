"""Sentence sampling and train/dev/test splits for the synthetic speech-translation corpus.

``make_splits`` draws sentences from the pair's grammar with one seeded generator per split, so the result
depends only on the seed and the requested sizes. Guarantees:

- no source sentence and no translation occurs in two splits, and no sentence occurs twice in a split;
- a fixed, seeded subset of word combinations (about ``HELD_OUT_RATE`` of all noun–adjective, verb–object,
  construct-state ... combinations the grammar can produce) never occurs in train; every third dev and test
  sentence contains at least one of them, so the held-out sets measure generalisation to unseen combinations;
- the optional ``test2`` split (``EXTRA_SPLITS``), a second test set drawn like test but after every other
  split, is disjoint from all of them and leaves them as they are without it: a larger evaluation set for a
  corpus already trained on.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from hent_srt.data.corpora.synth_ar import generate_ar
from hent_srt.data.corpora.synth_es import generate_es
from hent_srt.data.corpora.synth_grammar import Phrase, Sentence, render
from hent_srt.data.corpora.synth_zh import generate_zh, pinyin_of

__all__ = ["EXTRA_SPLITS", "HELD_OUT_RATE", "PAIRS", "PairSpec", "generate_sentence", "is_held_out", "make_splits"]

HELD_OUT_RATE = 0.1
MIN_WORDS, MAX_WORDS = 4, 10
SPLITS = ("test", "dev", "train")
EXTRA_SPLITS = ("test2",)


@dataclass(frozen=True)
class PairSpec:
    """A language pair: its grammar, source language code, eSpeak voice and transcript word separator."""

    grammar: Callable[[random.Random], Phrase]
    language: str
    voice: str
    separator: str


PAIRS: dict[str, PairSpec] = {
    "es-en": PairSpec(generate_es, "es", "es", " "),
    "ar-en": PairSpec(generate_ar, "ar", "ar", " "),
    "zh-en": PairSpec(generate_zh, "zh", "cmn-latn-pinyin", ""),
}


def _spoken(pair: str, phrase: Phrase) -> str:
    return pinyin_of(phrase.src) if pair == "zh-en" else " ".join(phrase.spoken)


def _generate_phrase(pair: str, rng: random.Random) -> Phrase:
    spec = PAIRS[pair]
    while True:
        phrase = spec.grammar(rng)
        if MIN_WORDS <= len(phrase.tgt) <= MAX_WORDS:
            return phrase


def _render(pair: str, phrase: Phrase) -> Sentence:
    return render(phrase, PAIRS[pair].separator, lambda p: _spoken(pair, p))


def generate_sentence(pair: str, rng: random.Random) -> Sentence:
    """One sentence pair of ``pair`` whose translation has ``MIN_WORDS``..``MAX_WORDS`` words."""
    if pair not in PAIRS:
        raise ValueError(f"pair must be one of {sorted(PAIRS)}, got {pair!r}.")
    return _render(pair, _generate_phrase(pair, rng))


def is_held_out(combo: tuple[str, ...], seed: int) -> bool:
    """Whether the word combination ``combo`` is held out of train for ``seed`` (a stable hash, not ``hash``)."""
    key = "\x1f".join((str(seed),) + combo).encode("utf-8")
    return zlib.crc32(key) % 1000 < HELD_OUT_RATE * 1000


def make_splits(pair: str, seed: int, sizes: dict[str, int]) -> dict[str, list[Sentence]]:
    """Sentences per split (``sizes`` maps "train", "dev", "test" and optionally "test2" to counts >= 0); test is
    drawn first, test2 last (only when asked for)."""
    if pair not in PAIRS:
        raise ValueError(f"pair must be one of {sorted(PAIRS)}, got {pair!r}.")
    unknown = sorted(set(sizes) - set(SPLITS) - set(EXTRA_SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; the splits are {', '.join(SPLITS + EXTRA_SPLITS)}.")
    sizes = {**dict.fromkeys(EXTRA_SPLITS, 0), **sizes}
    for split in SPLITS + EXTRA_SPLITS:
        if not isinstance(sizes.get(split), int) or sizes[split] < 0:
            raise ValueError(f"sizes[{split!r}] must be an integer >= 0, got {sizes.get(split)!r}.")
    seen_text: set[str] = set()
    seen_translation: set[str] = set()
    splits: dict[str, list[Sentence]] = {}
    for split in SPLITS + tuple(s for s in EXTRA_SPLITS if sizes[s] > 0):
        rng = random.Random(f"hent-srt-synth/{pair}/{seed}/{split}")
        chosen: list[Sentence] = []
        attempts = 0
        while len(chosen) < sizes[split]:
            attempts += 1
            if attempts > 200 * sizes[split] + 1000:
                raise ValueError(
                    f"the {pair} grammar produced only {len(chosen)} distinct {split} sentences of the "
                    f"{sizes[split]} requested; ask for fewer (--num-{split})."
                )
            phrase = _generate_phrase(pair, rng)
            text, translation = PAIRS[pair].separator.join(phrase.src), " ".join(phrase.tgt)
            if text in seen_text or translation in seen_translation:
                continue
            held_out = any(is_held_out(c, seed) for c in phrase.combos)
            if split == "train" and held_out:
                continue
            if split != "train" and len(chosen) % 3 == 0 and not held_out:
                continue
            seen_text.add(text)
            seen_translation.add(translation)
            chosen.append(_render(pair, phrase))
        splits[split] = chosen
    return splits
