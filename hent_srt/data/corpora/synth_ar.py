"""Modern Standard Arabic → English grammar and lexicon for the synthetic corpus.

Word-order differences with English that the grammar produces:

- verb–subject–object: "كتب الولد الرسالة" → "the boy wrote the letter";
- noun–adjective: "البيت الكبير" → "the big house";
- construct state (iḍāfa): "بيت المعلم" → "the teacher's house" (and "باب البيت" → "the door of the house").

Every word is built fully diacritised, with case endings (nominative subject, accusative object, genitive
after a preposition or as the second term of a construct) and the assimilated article before sun letters;
this is what eSpeak NG speaks. The transcript is the same text with the diacritics removed, as written in
real Arabic corpora. Past tense, singular nouns only.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from hent_srt.data.corpora.synth_grammar import Phrase, arrange, cat, empty, english_article, tgt_only

__all__ = ["generate_ar", "strip_diacritics"]

_SHADDA = "\u0651"
_CASE = {"nom": "\u064f", "acc": "\u064e", "gen": "\u0650"}
_TANWIN = {"nom": "\u064c", "acc": "\u064b", "gen": "\u064d"}
_SUN_LETTERS = set("تثدذرزسشصضطظلن")
_DIACRITICS = re.compile("[\u064b-\u0652\u0670]")


def strip_diacritics(text: str) -> str:
    """Remove Arabic short vowels, tanwin, shadda and sukun (U+064B..U+0652, U+0670)."""
    return _DIACRITICS.sub("", text)


@dataclass(frozen=True)
class _Noun:
    stem: str  # diacritised, without the case ending
    gender: str
    en: str
    kind: str  # p person, t thing, a animal, l place


@dataclass(frozen=True)
class _Verb:
    forms: tuple[str, str, str, str]  # he, she, I, we (past tense, diacritised)
    en: str
    kinds: str


_NOUNS = [
    _Noun("وَلَد", "m", "boy", "p"),
    _Noun("رَجُل", "m", "man", "p"),
    _Noun("مُعَلِّم", "m", "teacher", "p"),
    _Noun("طَبِيب", "m", "doctor", "p"),
    _Noun("طَالِب", "m", "student", "p"),
    _Noun("صَدِيق", "m", "friend", "p"),
    _Noun("جَار", "m", "neighbor", "p"),
    _Noun("بِنْت", "f", "girl", "p"),
    _Noun("طَالِبَة", "f", "student", "p"),
    _Noun("كِتَاب", "m", "book", "t"),
    _Noun("بَيْت", "m", "house", "t"),
    _Noun("بَاب", "m", "door", "t"),
    _Noun("قَلَم", "m", "pen", "t"),
    _Noun("قَمِيص", "m", "shirt", "t"),
    _Noun("مِفْتَاح", "m", "key", "t"),
    _Noun("هَاتِف", "m", "phone", "t"),
    _Noun("سَيَّارَة", "f", "car", "t"),
    _Noun("رِسَالَة", "f", "letter", "t"),
    _Noun("طَاوِلَة", "f", "table", "t"),
    _Noun("حَقِيبَة", "f", "bag", "t"),
    _Noun("صُورَة", "f", "picture", "t"),
    _Noun("كَلْب", "m", "dog", "a"),
    _Noun("حِصَان", "m", "horse", "a"),
    _Noun("قِطَّة", "f", "cat", "a"),
]
_PLACES = [
    _Noun("مَدِينَة", "f", "city", "l"),
    _Noun("مَدْرَسَة", "f", "school", "l"),
    _Noun("حَدِيقَة", "f", "garden", "l"),
    _Noun("سُوق", "m", "market", "l"),
    _Noun("مَكْتَب", "m", "office", "l"),
    _Noun("شَارِع", "m", "street", "l"),
]
_ADJECTIVES = [
    ("كَبِير", "big"),
    ("صَغِير", "small"),
    ("جَدِيد", "new"),
    ("قَدِيم", "old"),
    ("جَمِيل", "beautiful"),
    ("نَظِيف", "clean"),
    ("ثَقِيل", "heavy"),
    ("رَخِيص", "cheap"),
    ("سَرِيع", "fast"),
    ("بَعِيد", "far"),
]
_VERBS = [
    _Verb(("كَتَبَ", "كَتَبَتْ", "كَتَبْتُ", "كَتَبْنَا"), "wrote", "t"),
    _Verb(("قَرَأَ", "قَرَأَتْ", "قَرَأْتُ", "قَرَأْنَا"), "read", "t"),
    _Verb(("فَتَحَ", "فَتَحَتْ", "فَتَحْتُ", "فَتَحْنَا"), "opened", "t"),
    _Verb(("أَغْلَقَ", "أَغْلَقَتْ", "أَغْلَقْتُ", "أَغْلَقْنَا"), "closed", "t"),
    _Verb(("اِشْتَرَى", "اِشْتَرَتْ", "اِشْتَرَيْتُ", "اِشْتَرَيْنَا"), "bought", "ta"),
    _Verb(("بَاعَ", "بَاعَتْ", "بِعْتُ", "بِعْنَا"), "sold", "ta"),
    _Verb(("رَأَى", "رَأَتْ", "رَأَيْتُ", "رَأَيْنَا"), "saw", "tap"),
    _Verb(("وَجَدَ", "وَجَدَتْ", "وَجَدْتُ", "وَجَدْنَا"), "found", "tap"),
    _Verb(("أَخَذَ", "أَخَذَتْ", "أَخَذْتُ", "أَخَذْنَا"), "took", "ta"),
    _Verb(("غَسَلَ", "غَسَلَتْ", "غَسَلْتُ", "غَسَلْنَا"), "washed", "ta"),
    _Verb(("رَسَمَ", "رَسَمَتْ", "رَسَمْتُ", "رَسَمْنَا"), "drew", "tap"),
    _Verb(("حَمَلَ", "حَمَلَتْ", "حَمَلْتُ", "حَمَلْنَا"), "carried", "ta"),
    _Verb(("سَاعَدَ", "سَاعَدَتْ", "سَاعَدْتُ", "سَاعَدْنَا"), "helped", "p"),
    _Verb(("زَارَ", "زَارَتْ", "زُرْتُ", "زُرْنَا"), "visited", "p"),
]
# Dropped pronoun subjects: (index into _Verb.forms, English subject).
_PRONOUNS = [(0, "he"), (1, "she"), (2, "i"), (3, "we")]
_TIMES = [("أَمْسِ", "yesterday"), ("اليَوْمَ", "today"), ("صَبَاحًا", "in the morning"), ("مَسَاءً", "in the evening")]


def _aword(spoken: str, tgt: str) -> Phrase:
    """An Arabic word: transcript = undiacritised ``spoken``; aligned to every word of ``tgt``."""
    targets = tuple(tgt.split())
    return Phrase((strip_diacritics(spoken),), (spoken,), targets, tuple((0, j) for j in range(len(targets))))


def _inflect(stem: str, case: str, state: str) -> str:
    """Add the case ending for ``state``: "def" (article, assimilated before sun letters), "indef" (tanwin)
    or "construct" (first term of an iḍāfa: no article, no tanwin)."""
    if state == "construct":
        return stem + _CASE[case]
    if state == "indef":
        if case == "acc" and not stem.endswith("ة"):
            return stem + _TANWIN[case] + "ا"
        return stem + _TANWIN[case]
    if stem[0] in _SUN_LETTERS:
        stem = stem[0] + _SHADDA + stem[1:]
    return "ال" + stem + _CASE[case]


def _adjective(rng: random.Random, noun: _Noun, case: str, definite: bool) -> Phrase:
    stem, en = rng.choice(_ADJECTIVES)
    form = stem + ("\u064eة" if noun.gender == "f" else "")
    return _aword(_inflect(form, case, "def" if definite else "indef"), en).with_combo("ar-na", noun.en, en)


def _noun_phrase(rng: random.Random, noun: _Noun, case: str, allow_construct: bool = True) -> Phrase:
    """Definite or indefinite noun [+ adjective], or a construct "N1 N2" ("the N2's N1" / "the N1 of the N2")."""
    if allow_construct and noun.kind in "pt" and rng.random() < 0.35:
        owners = [n for n in _NOUNS + _PLACES if n.kind in ("p" if noun.kind == "p" else "ptl") and n != noun]
        owner = rng.choice(owners)
        by_person = owner.kind == "p"
        head = _aword(_inflect(noun.stem, case, "construct"), noun.en if by_person else "the " + noun.en)
        possessor = _aword(
            _inflect(owner.stem, "gen", "def"), "the " + owner.en + ("'s" if by_person else "")
        )
        possessor = possessor.with_combo("ar-cs", noun.en, owner.en)
        if by_person:
            return arrange([head, possessor], [1, 0])
        return arrange([head, tgt_only("of"), possessor], [0, 1, 2])
    definite = noun.kind == "p" or rng.random() < 0.7
    adjective = _adjective(rng, noun, case, definite) if noun.kind != "p" and rng.random() < 0.5 else empty()
    first_en = adjective.tgt[0] if adjective.tgt else noun.en
    article = "the" if definite else english_article(first_en)
    head = _inflect(noun.stem, case, "def" if definite else "indef")
    if not adjective.tgt:
        return _aword(head, article + " " + noun.en)
    # One Arabic word carries both the article and the noun; the adjective follows it.
    return Phrase(
        (strip_diacritics(head),) + adjective.src,
        (head,) + adjective.spoken,
        (article,) + adjective.tgt + (noun.en,),
        ((0, 0), (0, 2), (1, 1)),
        adjective.combos,
    )


def _verbal(rng: random.Random) -> Phrase:
    """V S O [place] [time] → S V O [place] [time]; the verb agrees in gender with a following subject."""
    verb = rng.choice(_VERBS)
    objects = [n for n in _NOUNS if n.kind in verb.kinds]
    obj_noun = rng.choice(objects)
    obj = _noun_phrase(rng, obj_noun, "acc").with_combo("ar-vo", verb.en, obj_noun.en)
    if rng.random() < 0.35:
        form, subject_en = rng.choice(_PRONOUNS)
        core = cat(_aword(verb.forms[form], subject_en + " " + verb.en), obj)
    else:
        subject_noun = rng.choice([n for n in _NOUNS if n.kind == "p"])
        subject = _noun_phrase(rng, subject_noun, "nom")
        form = 1 if subject_noun.gender == "f" else 0
        core = arrange([_aword(verb.forms[form], verb.en), subject, obj], [1, 0, 2])
    place = empty()
    if rng.random() < 0.3:
        where = rng.choice(_PLACES)
        place = cat(_aword("فِي", "in"), _aword(_inflect(where.stem, "gen", "def"), "the " + where.en))
    time = _aword(*rng.choice(_TIMES)) if rng.random() < 0.3 else empty()
    return cat(core, place, time)


def _nominal(rng: random.Random) -> Phrase:
    """Nominal sentence "N ADJ" (no verb) → "the N is ADJ"."""
    noun = rng.choice([n for n in _NOUNS if n.kind != "p"])
    subject = _noun_phrase(rng, noun, "nom")
    if subject.tgt[0] != "the":
        subject = _aword(_inflect(noun.stem, "nom", "def"), "the " + noun.en)
    stem, en = rng.choice(_ADJECTIVES)
    form = stem + ("\u064eة" if noun.gender == "f" else "")
    predicate = _aword(_inflect(form, "nom", "indef"), en).with_combo("ar-na", noun.en, en)
    return cat(subject, tgt_only("is"), predicate)


def generate_ar(rng: random.Random) -> Phrase:
    """One Arabic sentence with its English translation and alignment."""
    return _verbal(rng) if rng.random() < 0.75 else _nominal(rng)
