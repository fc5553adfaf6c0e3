"""HKUST Mandarin preparation: GBK transcripts, markup, translation TSV pairing by call side and timing."""

from __future__ import annotations

import logging

import pytest

from hent_srt.data.corpora.hkust import prepare_hkust, strip_hkust_markup
from hent_srt.data.corpora.manifests import CorpusError

T, D = "20040101_100000_A000001_B000002", "20040102_100000_A000003_B000004"

# by hand: markup stripped, full-width punctuation gone, no spaces; English lowercased, punctuation removed.
# The markup-only line T/A 1.70-1.90 ({laugh}) has no translation and is left out; a translation of
# punctuation only is dropped from train (T/B 2.0-2.4, "--") and kept as released in dev (D/B 1.6-1.9).
EXPECTED = {
    "train": {
        (T, 0, 0.1, 0.9): ("你好我是Tom", "hello i am tom"),
        (T, 1, 1.0, 1.6): ("嗯听到了", "um i heard it"),
    },
    "dev": {
        (D, 1, 0.2, 0.8): ("再见", "goodbye"),
        (D, 0, 0.9, 1.5): ("呃好的", "uh okay"),
        (D, 1, 1.6, 1.9): ("嗯", "..."),
    },
}


def _table(supervisions):
    return {
        (s.recording_id, s.channel, round(s.start, 3), round(s.end, 3)): (
            s.text,
            s.custom["translated_text"]["en"],
        )
        for s in supervisions
    }


def test_segments_texts_translations_and_sides(hkust_dirs, tmp_path):
    manifests = prepare_hkust(**hkust_dirs, output_dir=tmp_path)
    for split, expected in EXPECTED.items():
        recordings, supervisions = manifests[split]
        assert _table(supervisions) == expected
        assert all(
            s.language == "zh" and s.speaker == f"{s.recording_id}-{'AB'[s.channel]}" for s in supervisions
        )
        assert all(r.channel_ids == [0, 1] for r in recordings)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hkust_recordings_dev.jsonl.gz",
        "hkust_recordings_train.jsonl.gz",
        "hkust_supervisions_dev.jsonl.gz",
        "hkust_supervisions_train.jsonl.gz",
    ]


def test_a_copy_converted_to_utf8_reads_the_same(ldc, tmp_path):
    """LDC2005T32 is GBK; a copy converted to UTF-8 gives the same manifests instead of mojibake."""
    manifests = prepare_hkust(**ldc.make_hkust(tmp_path, transcript_encoding="utf-8"))
    for split, expected in EXPECTED.items():
        assert _table(manifests[split][1]) == expected


def test_transcript_lines_that_do_not_parse_are_logged(ldc, hkust_dirs, tmp_path, caplog):
    dirs = _copy(ldc, hkust_dirs, tmp_path)
    path = next(dirs["transcript_dir"].rglob(f"{D}.txt"))
    path.write_bytes(path.read_bytes() + "2.00 2.50 C: 什么\n".encode("gbk"))
    with caplog.at_level(logging.WARNING):
        assert _table(prepare_hkust(**dirs, splits=["dev"])["dev"][1]) == EXPECTED["dev"]
    assert f"{D}.txt: 1 line(s) are not 'start end A|B: text' and are left out (first: line 4)" in caplog.text


def test_without_normalisation_markup_is_still_removed(hkust_dirs):
    table = _table(prepare_hkust(**hkust_dirs, splits=["train"], normalize=False)["train"][1])
    assert table[(T, 0, 0.1, 0.9)] == ("你好， 我是 Tom 。", "Hello, I am Tom.")


def test_markup():
    assert strip_hkust_markup("{breath} 我 ((是)) <noise>好</noise> %呃 ~A") == "我 是 好 呃 A"


def _copy(ldc, hkust_dirs, tmp_path):
    return {key: ldc.copy_tree(p, tmp_path / p.name) if p.is_dir() else p for key, p in hkust_dirs.items()}


def test_transcript_segment_without_translation(ldc, hkust_dirs, tmp_path):
    tsv = tmp_path / "t.tsv"
    lines = hkust_dirs["translation_tsv"].read_bytes().split(b"\n")  # not splitlines: a line holds a \r
    tsv.write_bytes(b"\n".join(line for line in lines if b"\t0.9\t1.5\t" not in line))
    out = tmp_path / "out"
    with pytest.raises(CorpusError, match="has no translation in .*t.tsv") as info:
        prepare_hkust(**{**hkust_dirs, "translation_tsv": tsv}, output_dir=out)
    assert f"{D}.txt" in str(info.value) and "--allow-untranslated" in str(info.value)
    assert not out.exists()
    kept = prepare_hkust(**{**hkust_dirs, "translation_tsv": tsv}, allow_untranslated=True)["dev"][1]
    assert _table(kept) == {key: value for key, value in EXPECTED["dev"].items() if key[2] != 0.9}


def test_translation_without_transcript_segment(hkust_dirs, tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes(hkust_dirs["translation_tsv"].read_bytes() + f"{D}\tB\t5.0\t6.0\tExtra line\n".encode())
    with pytest.raises(CorpusError, match=r"t.tsv, line 8: no line of .* \(side B\)"):
        prepare_hkust(**{**hkust_dirs, "translation_tsv": tsv})


def test_malformed_translation_line(hkust_dirs, tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text(f"{D}\tB\t0.2\tGoodbye\n")
    with pytest.raises(CorpusError, match="t.tsv, line 1: expected 5 tab-separated fields"):
        prepare_hkust(**{**hkust_dirs, "translation_tsv": tsv})


def test_transcript_without_audio(ldc, hkust_dirs, tmp_path):
    dirs = _copy(ldc, hkust_dirs, tmp_path)
    next(dirs["audio_dir"].rglob(f"{D}.sph")).unlink()
    with pytest.raises(CorpusError, match=f"{D}.txt has no audio"):
        prepare_hkust(**dirs)


def test_missing_transcript_directory(hkust_dirs, tmp_path):
    with pytest.raises(CorpusError, match="LDC2005T32"):
        prepare_hkust(**{**hkust_dirs, "transcript_dir": tmp_path / "none"})
