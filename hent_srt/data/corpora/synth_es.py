"""Spanish → English grammar and lexicon for the synthetic corpus.

Word-order differences with English that the grammar produces:

- noun–adjective: "el coche rojo" → "the red car";
- possessive "de" phrases: "la casa de mi hermano" → "my brother's house";
- clitic object pronouns before the verb: "mi madre lo compra" → "my mother buys it";
- negation with do-support and pro-drop: "no la veo" → "i do not see it".

Present tense only; subjects are pronouns (often dropped, as in Spanish) or noun phrases, and verbs agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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

__all__ = ["generate_es"]


@dataclass(frozen=True)
class _Noun:
    sg: str
    pl: str
    gender: str
    en: str
    en_pl: str
    kind: str


@dataclass(frozen=True)
class _Verb:
    forms: tuple[str, str, str, str]  # 1sg, 3sg, 1pl, 3pl
    en: str
    en_3sg: str
    kinds: str


def _n(sg: str, gender: str, en: str, kind: str, pl: str = "", en_pl: str = "") -> _Noun:
    return _Noun(sg, pl or sg + "s", gender, en, en_pl or en + "s", kind)


_NOUNS = [
    _n("casa", "f", "house", "t"),
    _n("libro", "m", "book", "t"),
    _n("coche", "m", "car", "t"),
    _n("mesa", "f", "table", "t"),
    _n("silla", "f", "chair", "t"),
    _n("carta", "f", "letter", "t"),
    _n("puerta", "f", "door", "t"),
    _n("ventana", "f", "window", "t"),
    _n("camisa", "f", "shirt", "t"),
    _n("bicicleta", "f", "bicycle", "t"),
    _n("cuadro", "m", "painting", "t"),
    _n("teléfono", "m", "phone", "t"),
    _n("caja", "f", "box", "t", en_pl="boxes"),
    _n("llave", "f", "key", "t"),
    _n("manzana", "f", "apple", "t"),
    _n("pastel", "m", "cake", "t", "pasteles"),
    _n("perro", "m", "dog", "a"),
    _n("gato", "m", "cat", "a"),
    _n("caballo", "m", "horse", "a"),
    _n("pájaro", "m", "bird", "a"),
]
_PEOPLE = [
    _n("hermano", "m", "brother", "p"),
    _n("hermana", "f", "sister", "p"),
    _n("madre", "f", "mother", "p"),
    _n("padre", "m", "father", "p"),
    _n("amigo", "m", "friend", "p"),
    _n("amiga", "f", "friend", "p"),
    _n("vecino", "m", "neighbor", "p"),
    _n("vecina", "f", "neighbor", "p"),
    _n("tío", "m", "uncle", "p"),
    _n("tía", "f", "aunt", "p"),
    _n("profesor", "m", "teacher", "p", "profesores"),
    _n("médico", "m", "doctor", "p"),
]
_PLACES = [
    _n("ciudad", "f", "city", "l"),
    _n("parque", "m", "park", "l"),
    _n("escuela", "f", "school", "l"),
    _n("mercado", "m", "market", "l"),
    _n("tienda", "f", "store", "l"),
    _n("jardín", "m", "garden", "l"),
]
_ADJECTIVES = [
    ("rojo", "roja", "red"),
    ("blanco", "blanca", "white"),
    ("negro", "negra", "black"),
    ("nuevo", "nueva", "new"),
    ("viejo", "vieja", "old"),
    ("pequeño", "pequeña", "small"),
    ("grande", "grande", "big"),
    ("bonito", "bonita", "pretty"),
    ("caro", "cara", "expensive"),
    ("barato", "barata", "cheap"),
    ("limpio", "limpia", "clean"),
    ("bueno", "buena", "good"),
]
_VERBS = [
    _Verb(("compro", "compra", "compramos", "compran"), "buy", "buys", "t"),
    _Verb(("vendo", "vende", "vendemos", "venden"), "sell", "sells", "ta"),
    _Verb(("veo", "ve", "vemos", "ven"), "see", "sees", "tap"),
    _Verb(("busco", "busca", "buscamos", "buscan"), "look for", "looks for", "tap"),
    _Verb(("tengo", "tiene", "tenemos", "tienen"), "have", "has", "ta"),
    _Verb(("quiero", "quiere", "queremos", "quieren"), "want", "wants", "ta"),
    _Verb(("limpio", "limpia", "limpiamos", "limpian"), "clean", "cleans", "t"),
    _Verb(("pinto", "pinta", "pintamos", "pintan"), "paint", "paints", "t"),
    _Verb(("necesito", "necesita", "necesitamos", "necesitan"), "need", "needs", "t"),
    _Verb(("llevo", "lleva", "llevamos", "llevan"), "carry", "carries", "ta"),
    _Verb(("encuentro", "encuentra", "encontramos", "encuentran"), "find", "finds", "tap"),
    _Verb(("llamo", "llama", "llamamos", "llaman"), "call", "calls", "p"),
]
# Subject pronouns: (spanish, english, person index into _Verb.forms).
_PRONOUNS = [("yo", "i", 0), ("él", "he", 1), ("ella", "she", 1), ("nosotros", "we", 2), ("ellos", "they", 3)]
_CLITICS = [
    ("me", "me"),
    ("te", "you"),
    ("nos", "us"),
    ("lo", "it"),
    ("la", "it"),
    ("los", "them"),
    ("las", "them"),
]
_NAMES = ["juan", "maría", "pedro", "ana", "carlos", "lucía"]
_TIMES = [word("hoy", "today"), word("ahora", "now"), cat(word("cada", "every"), word("día", "day"))]
_POSSESSIVES = {"mi": "my", "tu": "your", "nuestro": "our"}


def _det(gender: str, plural: bool, kind: str) -> tuple[str, str]:
    """A Spanish determiner and its English equivalent; ``kind`` is def, indef, poss:<mi|tu|nuestro> or dem."""
    if kind == "def":
        articles = {("m", False): "el", ("f", False): "la", ("m", True): "los", ("f", True): "las"}
        return articles[gender, plural], "the"
    if kind == "indef":
        return ("un" if gender == "m" else "una"), "a"
    if kind == "dem":
        forms = {("m", False): "este", ("f", False): "esta", ("m", True): "estos", ("f", True): "estas"}
        return forms[gender, plural], ("these" if plural else "this")
    base = kind.split(":")[1]
    if base == "nuestro":
        src = "nuestr" + ("a" if gender == "f" else "o") + ("s" if plural else "")
    else:
        src = base + ("s" if plural else "")
    return src, _POSSESSIVES[base]


def _possessor(rng: random.Random) -> Phrase:
    """A possessor phrase: "de mi hermano" → "my brother's" ("de" aligns to the possessive noun)."""
    if rng.random() < 0.25:
        name = rng.choice(_NAMES)
        return Phrase(("de", name), ("de", name), (name + "'s",), ((0, 0), (1, 0)))
    person = rng.choice(_PEOPLE)
    det_src, det_en = _det(person.gender, False, "poss:" + rng.choice(list(_POSSESSIVES)))
    return Phrase(
        ("de", det_src, person.sg),
        ("de", det_src, person.sg),
        (det_en, person.en + "'s"),
        ((0, 1), (1, 0), (2, 1)),
    )


def _noun_phrase(rng: random.Random, noun: _Noun, plural: bool, allow_possessor: bool = True) -> Phrase:
    """Determiner + noun [+ adjective] [+ de-possessor], with English order [possessor|det] [adj] noun."""
    adjective = rng.choice(_ADJECTIVES) if noun.kind in "ta" and rng.random() < 0.55 else None
    has_possessor = allow_possessor and noun.kind in "ta" and rng.random() < 0.3
    kinds = ["def", "def", "dem", "poss:mi", "poss:tu", "poss:nuestro"] + ([] if plural else ["indef"] * 2)
    det_kind = "def" if has_possessor else rng.choice(kinds)
    det_src, det_en = _det(noun.gender, plural, det_kind)
    head = word(noun.pl if plural else noun.sg, noun.en_pl if plural else noun.en)
    adj = empty()
    if adjective is not None:
        form = adjective[1] if noun.gender == "f" else adjective[0]
        adj = word(form + ("s" if plural else ""), adjective[2])
        adj = adj.with_combo("es-na", noun.sg, adjective[0])
    first_en = adj.tgt[0] if adj.tgt else head.tgt[0]
    if det_en == "a":
        det_en = english_article(first_en)
    if has_possessor:
        # "la casa roja de mi hermano" -> "my brother's red house": the article has no English counterpart.
        return arrange([src_only(det_src), head, adj, _possessor(rng)], [0, 3, 2, 1])
    return arrange([word(det_src, det_en), head, adj], [0, 2, 1])


def _subject(rng: random.Random) -> tuple[Phrase, int]:
    """A subject phrase and its person index; pronouns are dropped half of the time (English keeps them)."""
    if rng.random() < 0.5:
        src, en, person = rng.choice(_PRONOUNS)
        return (tgt_only(en) if rng.random() < 0.5 else word(src, en)), person
    plural = rng.random() < 0.25
    person = rng.choice(_PEOPLE)
    det_src, det_en = _det(person.gender, plural, rng.choice(["def", "poss:mi", "poss:tu", "poss:nuestro"]))
    phrase = cat(
        word(det_src, det_en), word(person.pl if plural else person.sg, person.en_pl if plural else person.en)
    )
    return phrase, (3 if plural else 1)


def _verb_phrase(verb: _Verb, person: int, negated: bool) -> tuple[Phrase, Phrase]:
    """(negation, verb) phrases; English do-support under negation: "no veo" → "do not see"."""
    if not negated:
        return empty(), word(verb.forms[person], verb.en_3sg if person == 1 else verb.en)
    do = "does" if person == 1 else "do"
    return cat(tgt_only(do), word("no", "not")), word(verb.forms[person], verb.en)


def _object_noun(rng: random.Random, verb: _Verb) -> _Noun:
    pool = [n for n in _NOUNS + _PEOPLE if n.kind in verb.kinds]
    return rng.choice(pool)


def _personal_a(obj: Phrase) -> Phrase:
    """The "personal a" before a human object, contracted with "el": "a el vecino" → "al vecino"."""
    if obj.src[0] == "el":
        return Phrase(("al",) + obj.src[1:], ("al",) + obj.spoken[1:], obj.tgt, obj.links, obj.combos)
    return cat(src_only("a"), obj)


def _transitive(rng: random.Random) -> Phrase:
    subject, person = _subject(rng)
    verb = rng.choice(_VERBS)
    negation, verb_phrase = _verb_phrase(verb, person, rng.random() < 0.2)
    noun = _object_noun(rng, verb)
    obj = _noun_phrase(rng, noun, rng.random() < 0.25).with_combo("es-vo", verb.forms[0], noun.sg)
    if noun.kind == "p":
        obj = _personal_a(obj)
    place = empty()
    if rng.random() < 0.3:
        where = rng.choice(_PLACES)
        place = cat(word("en", "in"), _noun_phrase(rng, where, False, allow_possessor=False))
    time = rng.choice(_TIMES) if rng.random() < 0.3 else empty()
    return cat(subject, negation, verb_phrase, obj, place, time)


def _clitic(rng: random.Random) -> Phrase:
    """[S] [no] CLITIC V [time] → S [do not] V PRONOUN [time]."""
    subject, person = _subject(rng)
    verb = rng.choice(_VERBS)
    negation, verb_phrase = _verb_phrase(verb, person, rng.random() < 0.35)
    clitics = [c for c in _CLITICS if c[1] in ("it", "them")] if "p" not in verb.kinds else _CLITICS
    clitic_src, clitic_en = rng.choice(clitics)
    clitic = word(clitic_src, clitic_en).with_combo("es-cv", verb.forms[0], clitic_src)
    time = rng.choice(_TIMES) if rng.random() < 0.3 else empty()
    core = arrange([negation, clitic, verb_phrase], [0, 2, 1])
    return cat(subject, core, time)


def _copula(rng: random.Random) -> Phrase:
    """NP es ADJ → NP is ADJ (the adjective agrees with the noun)."""
    noun = rng.choice(_NOUNS)
    plural = rng.random() < 0.25
    subject = _noun_phrase(rng, noun, plural)
    adjective = rng.choice(_ADJECTIVES)
    form = (adjective[1] if noun.gender == "f" else adjective[0]) + ("s" if plural else "")
    negation = word("no", "not") if rng.random() < 0.2 else empty()
    copula = word("son" if plural else "es", "are" if plural else "is")
    predicate = word(form, adjective[2]).with_combo("es-na", noun.sg, adjective[0])
    return cat(subject, arrange([negation, copula], [1, 0]), predicate)


def generate_es(rng: random.Random) -> Phrase:
    """One Spanish sentence with its English translation and alignment."""
    choice = rng.random()
    if choice < 0.5:
        return _transitive(rng)
    if choice < 0.75:
        return _clitic(rng)
    return _copula(rng)
