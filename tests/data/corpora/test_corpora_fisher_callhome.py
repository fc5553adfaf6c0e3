"""Fisher/CALLHOME Spanish preparation on miniature LDC releases and Post et al.'s mapping files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hent_srt.data.corpora.fisher_callhome import (
    MULTI_REFERENCE_SPLITS,
    prepare_fisher_callhome,
    strip_ldc_markup,
)
from hent_srt.data.corpora.manifests import CorpusError
from hent_srt.data.text import normalize_lc_rm

F1, F2, F3, F4 = (f"2005010{i}_120000_10{i}_fsp" for i in range(1, 5))

# by hand from the fixture: segment = union of its lines (first start, last end, first line's side),
# Post's markup stripping, then lc.rm on both sides; a carriage return inside a line is a space. A reference
# of punctuation only is dropped from fisher_train (F1 line 5, ".") and kept as released in the evaluation
# sets; the empty fourth reference of F2 line 2 is left out of its list. (start, end, channel, Spanish, refs)
EXPECTED = {
    "fisher_train": [
        (F1, 0.10, 0.60, 0, "hola okay cómo estás", ["hello okay how are you"]),
        (F1, 0.70, 1.60, 1, "bien gracias y tú muy bien", ["fine thanks and you very well"]),
        (F1, 1.70, 1.95, 0, "adiós", ["bye"]),
    ],
    "fisher_dev": [
        (
            F2,
            0.20,
            0.90,
            1,
            "dónde vives",
            ["where do you live", "where do you live", "where's your home", "where do you reside"],
        ),
        (F2, 1.00, 1.50, 0, "en madrid", ["in madrid", "in madrid", "--"]),
    ],
    "fisher_dev2": [
        (
            F3,
            0.30,
            1.00,
            0,
            "me gusta el fútbol",
            ["i like soccer", "i like football", "i love soccer", "soccer i like it"],
        ),
        (F3, 1.10, 1.50, 1, "claro", ["]", "of course", "sure", "clearly"]),
    ],
    "fisher_test": [
        (F4, 0.10, 0.50, 1, "sí", ["yes", "yes", "yeah", "sure"]),
        (
            F4,
            0.60,
            1.40,
            0,
            "no sé pues tal vez",
            ["i don't know maybe", "perhaps", "no idea maybe", "i don't know maybe"],
        ),
    ],
    "callhome_train": [
        ("sp_0001", 0.10, 0.80, 0, "qué tal mamá", ["how are you mom"]),
        ("sp_0001", 0.90, 1.90, 1, "bien hija sí", ["fine okay dear yes"]),
    ],
    "callhome_devtest": [("sp_0002", 0.20, 1.50, 1, "año nuevo feliz año", ["new year happy new year"])],
    "callhome_evltest": [
        ("sp_0003", 0.10, 0.90, 0, "está bien", ["it's fine"]),
        ("sp_0003", 1.00, 1.50, 1, "ajá", ["--"]),
    ],
}


def _rows(supervisions):
    rows = []
    for s in sorted(supervisions, key=lambda s: s.id):
        refs = s.custom.get("translated_refs", {}).get("en", [s.custom["translated_text"]["en"]])
        assert s.custom["translated_text"]["en"] == refs[0]
        rows.append((s.recording_id, round(s.start, 2), round(s.end, 2), s.channel, s.text, refs))
    return rows


@pytest.fixture(scope="module")
def prepared(fisher_dirs, tmp_path_factory):
    flac = tmp_path_factory.mktemp("fisher_flac")
    return prepare_fisher_callhome(**fisher_dirs, flac_dir=flac)


def test_all_splits_texts_references_and_sides(prepared):
    assert set(prepared) == set(EXPECTED)
    for split, rows in EXPECTED.items():
        assert _rows(prepared[split][1]) == rows, split


def test_published_split_sizes_in_miniature(ldc, fisher_miniature_dirs, caplog):
    """Every segment of the evaluation sets is kept; the carriage returns inside lines shift no reference."""
    with caplog.at_level(logging.INFO):
        manifests = prepare_fisher_callhome(**fisher_miniature_dirs)
    assert {split: len(sups) for split, (_, sups) in manifests.items()} == ldc.miniature_expected_counts()
    assert ldc.miniature_expected_counts()["fisher_test"] == 36 and ldc.MINIATURE["fisher_test"][2] == 17
    for split, (_, supervisions) in manifests.items():
        for sup in supervisions:
            index = int(sup.id.rsplit("-", 1)[1])
            translation = sup.custom["translated_text"]["en"]
            assert translation == f"segment {index} so" or not normalize_lc_rm(translation), (split, sup.id)
            if split in MULTI_REFERENCE_SPLITS:
                refs = sup.custom["translated_refs"]["en"]
                assert len(refs) == 4 and refs[0] == translation
                assert all(r in (f"reference {k} of {index}", "?") for k, r in enumerate(refs[1:], 1))
    n, punctuation, _ = ldc.MINIATURE["fisher_train"]
    assert f"fisher_train: {n - punctuation} segments, published" in caplog.text
    assert f"{punctuation} translation empty after normalisation" in caplog.text


def test_a_copy_converted_to_utf8_reads_the_same(ldc, fisher_dirs, prepared, tmp_path):
    """CALLHOME transcripts are ISO-8859-1 as released; a UTF-8 copy (iconv'd) must not turn into mojibake."""
    dirs = _copy(ldc, fisher_dirs, tmp_path)
    for path in dirs["callhome_transcript_dir"].rglob("*.txt"):
        path.write_bytes(path.read_bytes().decode("iso-8859-1").encode("utf-8"))
    manifests = prepare_fisher_callhome(**dirs, splits=["callhome_train", "callhome_evltest"])
    for split in ("callhome_train", "callhome_evltest"):
        assert _rows(manifests[split][1]) == EXPECTED[split]


def test_single_reference_splits_carry_no_reference_list(prepared):
    for split in ("fisher_train", "callhome_train", "callhome_devtest", "callhome_evltest"):
        assert all("translated_refs" not in s.custom for s in prepared[split][1])


def test_speakers_are_call_sides(prepared):
    for split in EXPECTED:
        for s in prepared[split][1]:
            assert s.speaker == f"{s.recording_id}-{'AB'[s.channel]}" and s.language == "es"


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def test_each_supervision_hears_its_own_side(prepared, ldc):
    """Side A is a 400 Hz tone and side B 1000 Hz in the fixture audio: the cut must sound like its side."""
    from lhotse import CutSet

    for split in ("fisher_train", "callhome_devtest"):
        recordings, supervisions = prepared[split]
        cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions(
            keep_overlapping=False
        )
        for cut in cuts:
            audio = cut.load_audio()
            assert audio.shape[0] == 1
            side = cut.supervisions[0].channel
            assert _dominant_frequency(audio[0], cut.sampling_rate) == pytest.approx(
                ldc.FISHER_FREQ[side], abs=5
            )


def test_features_step_cuts_conversations_into_segments_on_their_side(prepared, ldc, tmp_path):
    """`hent-srt features --recordings --supervisions`: one cut per segment, with the segment's span and side."""
    from lhotse import CutSet

    from hent_srt.data.features import segment_cuts

    recordings, supervisions = prepared["fisher_dev"]
    recordings.to_file(tmp_path / "recs.jsonl.gz")
    supervisions.to_file(tmp_path / "sups.jsonl.gz")
    out = segment_cuts(tmp_path / "recs.jsonl.gz", tmp_path / "sups.jsonl.gz", tmp_path / "segments.jsonl.gz")
    cuts = CutSet.from_file(out).to_eager()
    assert sorted(c.supervisions[0].id for c in cuts) == sorted(s.id for s in supervisions)
    for cut in cuts:
        sup = supervisions[cut.supervisions[0].id]
        assert cut.start == pytest.approx(sup.start) and cut.duration == pytest.approx(sup.duration)
        audio = cut.load_audio()
        assert _dominant_frequency(audio[0], cut.sampling_rate) == pytest.approx(ldc.FISHER_FREQ[sup.channel], abs=5)
    with pytest.raises(ValueError, match="--recordings"):
        segment_cuts(tmp_path / "missing.jsonl.gz", tmp_path / "sups.jsonl.gz", tmp_path / "x.jsonl.gz")


def test_recordings_are_two_channel_calls(prepared):
    recordings, _ = prepared["callhome_train"]
    assert recordings["sp_0001"].channel_ids == [0, 1] and recordings["sp_0001"].sources[0].source.endswith(
        ".flac"
    )


def test_markup_stripping_follows_post():
    assert (
        strip_ldc_markup('a (( b )) <foreign lang="English"> c </foreign> [noise] {laugh} d+ e/ #f*')
        == "a b c d e f"
    )


def test_only_the_requested_corpus_is_needed(fisher_dirs):
    manifests = prepare_fisher_callhome(
        translation_dir=fisher_dirs["translation_dir"],
        callhome_audio_dir=fisher_dirs["callhome_audio_dir"],
        callhome_transcript_dir=fisher_dirs["callhome_transcript_dir"],
    )
    assert set(manifests) == {"callhome_train", "callhome_devtest", "callhome_evltest"}


def _copy(ldc, fisher_dirs, tmp_path):
    return {key: ldc.copy_tree(path, tmp_path / path.name) for key, path in fisher_dirs.items()}


def test_mismatched_reference_line_count(ldc, fisher_dirs, tmp_path):
    dirs = _copy(ldc, fisher_dirs, tmp_path)
    ref = dirs["translation_dir"] / "corpus/ldc/fisher_test.en.2"
    ref.write_text(ref.read_text() + "one line too many\n")
    out = tmp_path / "out"
    with pytest.raises(CorpusError, match="mismatched line counts") as info:
        prepare_fisher_callhome(**dirs, output_dir=out)
    assert "fisher_test.en.2" in str(info.value) and "mapping/fisher_test" in str(info.value)
    assert not out.exists()


def test_missing_reference_file(ldc, fisher_dirs, tmp_path):
    dirs = _copy(ldc, fisher_dirs, tmp_path)
    (dirs["translation_dir"] / "corpus/ldc/fisher_dev2.en.3").unlink()
    with pytest.raises(CorpusError, match=r"fisher_dev2\.en\.3"):
        prepare_fisher_callhome(**dirs, splits=["fisher_dev2"])


def test_mapping_beyond_the_transcript(ldc, fisher_dirs, tmp_path):
    dirs = _copy(ldc, fisher_dirs, tmp_path)
    (dirs["translation_dir"] / "mapping/callhome_evltest").write_text("sp_0003 1_7\nsp_0003 2\n")
    with pytest.raises(CorpusError, match="refers to line 7 of .*sp_0003.txt"):
        prepare_fisher_callhome(**dirs, splits=["callhome_evltest"])


def test_mapping_to_an_unknown_transcript(ldc, fisher_dirs, tmp_path):
    dirs = _copy(ldc, fisher_dirs, tmp_path)
    (dirs["translation_dir"] / "mapping/callhome_evltest").write_text("sp_9999 1\nsp_0003 2\n")
    with pytest.raises(CorpusError, match="mapping/callhome_evltest, line 1 names transcript sp_9999"):
        prepare_fisher_callhome(**dirs, splits=["callhome_evltest"])


def test_missing_audio_directory(fisher_dirs, tmp_path):
    with pytest.raises(CorpusError, match="LDC2010S01"):
        prepare_fisher_callhome(**{**fisher_dirs, "fisher_audio_dir": tmp_path / "missing"})


def test_unknown_split_name(fisher_dirs):
    with pytest.raises(ValueError, match="fisher_train"):
        prepare_fisher_callhome(**fisher_dirs, splits=["fisher_eval"])
