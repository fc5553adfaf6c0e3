"""Text normalisers on real-looking examples in Latin, Arabic and Chinese script."""

import pytest

from hent_srt.data.text import (
    get_normalizer,
    normalize_arabic_for_wer,
    normalize_iwslt22_english,
    normalize_iwslt22_tunisian,
    normalize_lc_rm,
    normalize_mandarin,
    to_half_width,
)


def test_iwslt22_english():
    raw = 'Uh, (( )) I said: "Yes!" #Bonjour + =typo; done.'
    assert normalize_iwslt22_english(raw) == "uh i said yes bonjour typo done"


def test_iwslt22_tunisian_markers_and_punctuation():
    raw = "O/ميرسي برشا؟ U/شنوة M/السلام عليكم . UM/هذا ! UO/ok?"
    assert normalize_iwslt22_tunisian(raw) == "ميرسي برشا شنوة السلام عليكم هذا ok"


def test_arabic_wer_normalisation():
    assert normalize_arabic_for_wer("أنا إلى آخر المدرسة، مستشفى 12!") == "انا الي اخر المدرسه مستشفي 12"
    assert normalize_arabic_for_wer("hello مرحبا") == "مرحبا"


def test_lc_rm_keeps_apostrophes():
    assert normalize_lc_rm("¿Qué tal, Señor? It's fine... ¡Sí!") == "qué tal señor it's fine sí"


def test_mandarin_full_width_and_punctuation():
    assert to_half_width("ＡＢＣ１２３　") == "ABC123 "
    assert normalize_mandarin("我买的书，很好！ＯＫ 吗？") == "我买的书很好OK吗"


@pytest.mark.parametrize("name", ["none", "iwslt22_en", "iwslt22_ta", "arabic_wer", "lc_rm", "mandarin"])
def test_normalisers_are_idempotent(name):
    f = get_normalizer(name)
    for text in ["Hola, ¿qué tal?", "O/ميرسي برشا؟", "我买的书，很好！", 'He said: "no".']:
        assert f(f(text)) == f(text)


def test_unknown_normaliser():
    with pytest.raises(ValueError, match="lc_rm"):
        get_normalizer("lcrm")
