"""Mandarin → English grammar and lexicon for the synthetic corpus.

Word-order differences with English that the grammar produces:

- time and place before the verb: "我昨天在公园看了一只狗" → "i looked at a dog in the park yesterday";
- relative clauses before the noun: "我买的书" → "the book that i bought";
- measure words between number or demonstrative and noun ("一本书" → "a book"), with no English counterpart.

Tense comes from the time word: past with the aspect particle 了, future with 会 ("will"). The transcript is
written without spaces, as Mandarin is; eSpeak NG speaks its pinyin (``pinyin_of``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from hent_srt.data.corpora.synth_grammar import (
    Phrase,
    arrange,
    cat,
    empty,
    english_article,
    src_only,
    tgt_only,
    word,
)

__all__ = ["generate_zh", "pinyin_of"]


@dataclass(frozen=True)
class _Noun:
    hanzi: str
    measure: str
    en: str
    en_pl: str


@dataclass(frozen=True)
class _Verb:
    hanzi: str
    en: str
    past: str
    objects: str  # the nouns it takes, as a string of their first characters; "" = any


def _n(hanzi: str, measure: str, en: str, en_pl: str = "") -> _Noun:
    return _Noun(hanzi, measure, en, en_pl or en + "s")


_NOUNS = [
    _n("书", "本", "book"),
    _n("狗", "只", "dog"),
    _n("猫", "只", "cat"),
    _n("车", "辆", "car"),
    _n("自行车", "辆", "bicycle"),
    _n("苹果", "个", "apple"),
    _n("电脑", "台", "computer"),
    _n("衬衫", "件", "shirt"),
    _n("桌子", "张", "table"),
    _n("椅子", "把", "chair"),
    _n("信", "封", "letter"),
    _n("花", "朵", "flower"),
    _n("鱼", "条", "fish", "fish"),
    _n("房子", "座", "house"),
    _n("杯子", "个", "cup"),
    _n("笔", "支", "pen"),
    _n("报纸", "份", "newspaper"),
    _n("画", "幅", "painting"),
    _n("手机", "部", "phone"),
    _n("蛋糕", "块", "cake"),
]
_VERBS = [
    _Verb("买", "buy", "bought", ""),
    _Verb("卖", "sell", "sold", ""),
    _Verb("看", "look at", "looked at", ""),
    _Verb("喜欢", "like", "liked", ""),
    _Verb("找", "look for", "looked for", ""),
    _Verb("洗", "wash", "washed", "衬车自杯狗"),
    _Verb("借", "borrow", "borrowed", "书笔自车电手报"),
    _Verb("写", "write", "wrote", "信"),
    _Verb("吃", "eat", "ate", "苹鱼蛋"),
    _Verb("修", "fix", "fixed", "车自电椅桌手"),
    _Verb("拿", "take", "took", "书笔杯手信报花"),
    _Verb("画", "draw", "drew", "狗猫花房鱼车"),
]
_SUBJECTS = [
    word("我", "i"),
    word("你", "you"),
    word("他", "he"),
    word("她", "she"),
    word("我们", "we"),
    word("他们", "they"),
    cat(word("我", "my"), src_only("的"), word("朋友", "friend")),
    cat(word("我", "my"), word("妈妈", "mother")),
    word("老师", "the teacher"),
    cat(word("我", "my"), word("哥哥", "brother")),
    cat(word("她", "her"), word("姐姐", "sister")),
]
_PAST_TIMES = [("昨天", "yesterday"), ("上个星期", "last week"), ("昨天晚上", "last night")]
_FUTURE_TIMES = [("明天", "tomorrow"), ("下个星期", "next week"), ("明天晚上", "tomorrow night")]
_PLACES = [
    ("家", "at", "home"),
    ("学校", "at", "school"),
    ("公园", "in", "the park"),
    ("商店", "at", "the store"),
    ("图书馆", "in", "the library"),
    ("饭馆", "at", "the restaurant"),
    ("办公室", "in", "the office"),
    ("北京", "in", "beijing"),
    ("上海", "in", "shanghai"),
]
_NUMBERS = [("一", ""), ("两", "two"), ("三", "three"), ("五", "five")]
_ATTRIBUTES = [("新", "new"), ("旧", "old"), ("大", "big"), ("小", "small")]
_PREDICATES = [
    ("贵", "expensive"),
    ("便宜", "cheap"),
    ("好看", "beautiful"),
    ("新", "new"),
    ("旧", "old"),
    ("大", "big"),
    ("小", "small"),
    ("好", "good"),
]


def _fits(verb: _Verb, noun: _Noun) -> bool:
    return not verb.objects or noun.hanzi[0] in verb.objects


def _relative(rng: random.Random, noun: _Noun) -> Phrase:
    """Relative clause: "[S V 的] N" → "the N that S V-ed" (the clause precedes the noun in Mandarin)."""
    verb = rng.choice([v for v in _VERBS if _fits(v, noun)])
    subject = rng.choice(_SUBJECTS)
    head = word(noun.hanzi, "the " + noun.en).with_combo("zh-rc", verb.hanzi, noun.hanzi)
    return arrange([subject, word(verb.hanzi, verb.past), word("的", "that"), head], [3, 2, 0, 1])


def _counted(rng: random.Random, noun: _Noun) -> Phrase:
    """Counted noun: "NUM|DEM MW [ADJ] N" → "a|two|this [adj] N(s)"; the measure word has no English."""
    attribute = rng.choice(_ATTRIBUTES) if rng.random() < 0.3 else None
    adj = word(*attribute).with_combo("zh-an", attribute[0], noun.hanzi) if attribute else empty()
    if rng.random() < 0.3:
        hanzi, en = rng.choice([("这", "this"), ("那", "that")])
        return cat(word(hanzi, en), src_only(noun.measure), adj, word(noun.hanzi, noun.en))
    hanzi, en = rng.choice(_NUMBERS)
    plural = bool(en)
    head = word(noun.hanzi, noun.en_pl if plural else noun.en)
    number = word(hanzi, en or english_article((adj.tgt or head.tgt)[0]))
    return cat(number, src_only(noun.measure), adj, head)


def _event(rng: random.Random) -> Phrase:
    """S [TIME] [PLACE] V了 O → S V O [PLACE] [TIME]; future: S TIME 会 [PLACE] V O → S will V O [PLACE] TIME."""
    subject = rng.choice(_SUBJECTS)
    verb = rng.choice(_VERBS)
    noun = rng.choice([n for n in _NOUNS if _fits(verb, n)])
    obj = _relative(rng, noun) if rng.random() < 0.3 else _counted(rng, noun)
    obj = obj.with_combo("zh-vo", verb.hanzi, noun.hanzi)
    place = empty()
    if rng.random() < 0.5:
        hanzi, prep, en = rng.choice(_PLACES)
        place = cat(word("在", prep), word(hanzi, en))
    if rng.random() < 0.3:
        time = word(*rng.choice(_FUTURE_TIMES))
        return arrange(
            [subject, time, word("会", "will"), place, word(verb.hanzi, verb.en), obj], [0, 2, 4, 5, 3, 1]
        )
    time = word(*rng.choice(_PAST_TIMES)) if rng.random() < 0.6 else empty()
    verb_phrase = cat(word(verb.hanzi, verb.past), src_only("了"))
    return arrange([subject, time, place, verb_phrase, obj], [0, 3, 4, 2, 1])


def _description(rng: random.Random) -> Phrase:
    """Description: "[RC 的|这 MW] N 很 ADJ" → "the N that RC | this N is ADJ" (很 has no counterpart)."""
    noun = rng.choice(_NOUNS)
    if rng.random() < 0.6:
        subject = _relative(rng, noun)
    else:
        hanzi, en = rng.choice([("这", "this"), ("那", "that")])
        subject = cat(word(hanzi, en), src_only(noun.measure), word(noun.hanzi, noun.en))
    hanzi, en = rng.choice(_PREDICATES)
    return cat(
        subject, tgt_only("is"), src_only("很"), word(hanzi, en).with_combo("zh-np", noun.hanzi, hanzi)
    )


def generate_zh(rng: random.Random) -> Phrase:
    """One Mandarin sentence with its English translation and alignment."""
    return _event(rng) if rng.random() < 0.7 else _description(rng)


@cache
def _word_pinyin(word: str) -> str:
    from pypinyin import Style, pinyin

    return " ".join(
        s[0] for s in pinyin([word], style=Style.TONE3, neutral_tone_with_five=True, v_to_u=False)
    )


def pinyin_of(words: tuple[str, ...]) -> str:
    """Tone-numbered pinyin of segmented words ("wo3 mai3 de5 shu1"), the input of eSpeak's pinyin voice."""
    return " ".join(_word_pinyin(w) for w in words)
