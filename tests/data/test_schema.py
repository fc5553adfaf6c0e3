"""The cut schema: helpers read what make_supervision wrote; the validator names every bad cut."""

from __future__ import annotations

import pytest
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from hent_srt.data.schema import (
    SchemaError,
    make_supervision,
    source_text,
    target_refs,
    target_text,
    validate_cuts,
)


def _cut(
    i: int, text: str = "hola mundo", translation: str | None = "hello world", duration: float = 1.0, **kw
):
    cut = dummy_cut(i, duration=duration, with_data=False)
    cut.id = f"cut{i}"
    sup = make_supervision(f"sup{i}", cut.recording_id, 0.0, 1.0, 0, "x", "es", "y", **kw)
    sup.text = text
    if translation is None:
        sup.custom = {}
    else:
        sup.custom["translated_text"]["en"] = translation
    cut.supervisions = [sup]
    return cut


def test_make_supervision_follows_lhotse_translation_convention(tmp_path):
    sup = make_supervision("s", "r", 0.5, 2.0, 0, "la casa", "es", "the house", speaker="spk1")
    assert (sup.text, sup.language, sup.speaker) == ("la casa", "es", "spk1")
    assert sup.custom == {"translated_text": {"en": "the house"}}
    cut = dummy_cut(0, duration=3.0)
    cut.supervisions = [sup]
    path = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts([cut]).to_file(path)
    back = next(iter(CutSet.from_file(path)))
    assert source_text(back) == "la casa"
    assert target_text(back) == "the house"
    assert target_refs(back) == ["the house"]


def test_translation_refs_are_returned_when_present():
    sup = make_supervision(
        "s",
        "r",
        0,
        1,
        0,
        "hola",
        "es",
        "hello",
        translation_refs=["hello", "hi", "good day"],
        target_language="en",
    )
    cut = dummy_cut(0, duration=1.0)
    cut.supervisions = [sup]
    assert target_refs(cut) == ["hello", "hi", "good day"]
    assert target_text(cut) == "hello"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"text": "  "}, "text"),
        ({"translation": ""}, "translation"),
        ({"language": ""}, "language"),
        ({"duration": 0.0}, "duration"),
        ({"translation_refs": []}, "translation_refs"),
    ],
)
def test_make_supervision_rejects_bad_fields(kwargs, field):
    args = {
        "id": "s",
        "recording_id": "r",
        "start": 0.0,
        "duration": 1.0,
        "channel": 0,
        "text": "a",
        "language": "es",
        "translation": "b",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        make_supervision(**args)


def test_validate_accepts_schema_cuts():
    validate_cuts([_cut(i) for i in range(3)])


def test_validate_lists_every_violating_cut_with_its_problem():
    good = [_cut(0), _cut(1)]
    no_translation = _cut(2, translation=None)
    empty_text = _cut(3, text="  ")
    zero_duration = _cut(4, duration=0.0)
    no_sup = _cut(5)
    no_sup.supervisions = []
    no_language = _cut(6)
    no_language.supervisions[0].language = None
    with pytest.raises(SchemaError) as err:
        validate_cuts(good + [no_translation, empty_text, zero_duration, no_sup, no_language])
    msg = str(err.value)
    lines = {line.split(":")[0].strip(): line for line in msg.splitlines()}
    assert "missing translation" in lines["cut2"]
    assert "whitespace-only text" in lines["cut3"]
    assert "duration 0.0" in lines["cut4"]
    assert "no supervision" in lines["cut5"]
    assert "missing language" in lines["cut6"]
    assert "cut0" not in lines and "cut1" not in lines
    assert msg.startswith("5 cut(s)")
    assert msg.splitlines()[-1].startswith("Fix:")


@pytest.mark.parametrize(
    "text, kind",
    [("", "empty"), (" \t\n", "whitespace-only"), ("\u200b", "invisible-only"), ("\ufeff\u200d \u2060", "invisible-only")],
)
def test_blank_texts_and_translations_are_reported_with_the_cut_ids(text, kind):
    bad_text, bad_translation = _cut(1, text=text), _cut(2, translation=text)
    with pytest.raises(SchemaError) as err:
        validate_cuts([_cut(0), bad_text, bad_translation, _cut(3)])
    lines = {line.split(":")[0].strip(): line for line in str(err.value).splitlines()}
    assert f"{kind}" in lines["cut1"] and "text" in lines["cut1"]
    assert f"{kind}" in lines["cut2"] and "translation" in lines["cut2"]
    assert "cut0" not in lines and "cut3" not in lines
    with pytest.raises(ValueError, match="text"):
        make_supervision("s", "r", 0.0, 1.0, 0, text or "\u200b", "es", "ok")


def test_visible_text_with_zero_width_characters_inside_is_fine():
    assert validate_cuts([_cut(0, text="hola\u200bmundo", translation="\ufeffhello")]) == 1


def test_duplicate_cut_ids_are_reported_once_each_with_their_count():
    cuts = [_cut(0), _cut(1), _cut(0), _cut(2), _cut(0), _cut(1)]
    with pytest.raises(SchemaError) as err:
        validate_cuts(cuts)
    msg = str(err.value)
    assert msg.startswith("2 cut(s)")
    assert "  cut0: duplicate cut id (3 cuts share it)" in msg and "  cut1: duplicate cut id (2 cuts share it)" in msg
    assert "cut2" not in msg


def test_a_long_listing_is_cut_short_but_counts_everything():
    with pytest.raises(SchemaError) as err:
        validate_cuts([_cut(i, text=" ") for i in range(80)])
    msg = str(err.value)
    assert msg.startswith("80 cut(s)") and "cut49:" in msg and "cut50:" not in msg and "... and 30 more" in msg


def test_noise_cuts_need_no_supervision():
    noise = _cut(0)
    noise.supervisions = []
    assert validate_cuts([noise], require_translation=False, require_supervision=False) == 1
    with pytest.raises(SchemaError, match="cut0: no supervision"):
        validate_cuts([noise])


def test_translation_can_be_optional():
    validate_cuts([_cut(0, translation=None)], require_translation=False)
    with pytest.raises(SchemaError, match="cut0"):
        validate_cuts([_cut(0, translation=None)])


def test_target_text_names_the_cut_without_translation():
    with pytest.raises(SchemaError, match=r"cut 'cut7'.*\n.*Fix:"):
        target_text(_cut(7, translation=None))
    with pytest.raises(SchemaError, match="no supervision"):
        cut = _cut(8)
        cut.supervisions = []
        source_text(cut)
