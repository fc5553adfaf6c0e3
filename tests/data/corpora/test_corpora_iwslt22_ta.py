"""IWSLT22 Tunisian preparation on a miniature LDC2022E01: pairing by timing, splits, filters, errors."""

from __future__ import annotations

import gzip
import inspect
import json
import logging
import shutil

import pytest

from hent_srt.data.corpora import fisher_callhome, hkust, iwslt22_ta, multi_conv
from hent_srt.data.corpora.iwslt22_ta import prepare_iwslt22_ta
from hent_srt.data.corpora.manifests import CorpusError

A, B = "20170101_100001_10001_A", "20170101_100001_10001_B"
DEV, TEST = "20170102_100002_10002_A", "20170103_100003_10003_B"

# written by hand from the fixture: official filters applied, excluded / repeated-start lines gone; a text
# that the filters empty is dropped from train (A 5.0-5.5, "...") and kept as released in dev and test1.
EXPECTED = {
    "train": {
        (A, 0.5, 1.1): ("باهي برشا", "very good really"),
        (A, 10.25, 10.8): ("يعيشك", "thank you"),
        (B, 0.3, 0.9): ("شنوة", "what"),
        (B, 3.0, 3.8): ("الثانية", "the second one"),
    },
    "dev": {
        (DEV, 0.4, 1.4): ("عسلامة", "hellothere"),
        (DEV, 2.0, 2.6): ("لا باس", "fine okay"),
        (DEV, 3.0, 3.4): ("آه", "?!"),
    },
    "test1": {(TEST, 0.2, 0.8): ("؟ !", "huh"), (TEST, 1.0, 1.7): ("بالسلامة", "goodbye friend")},
}


def _table(supervisions):
    return {
        (s.recording_id, round(s.start, 3), round(s.end, 3)): (s.text, s.custom["translated_text"]["en"])
        for s in supervisions
    }


@pytest.fixture(scope="module")
def prepared(iwslt22_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("iwslt22_out")
    return prepare_iwslt22_ta(*iwslt22_dirs, output_dir=out), out


def test_segments_texts_and_translations(prepared):
    manifests, _ = prepared
    assert set(manifests) == {"train", "dev", "test1"}
    for split, expected in EXPECTED.items():
        recordings, supervisions = manifests[split]
        assert _table(supervisions) == expected
        assert sorted(recordings.ids) == sorted({key[0] for key in expected})
        assert all(s.language == "aeb" and s.channel == 0 for s in supervisions)


def test_speakers_and_recordings(prepared):
    manifests, _ = prepared
    recordings, supervisions = manifests["train"]
    assert {s.speaker for s in supervisions} == {f"{A}-spk1", f"{B}-spk2"}
    assert recordings[A].duration == 11.0 and recordings[A].sampling_rate == 8000
    assert recordings[A].channel_ids == [0]


def test_manifest_files_hold_what_their_names_say(prepared):
    """lhotse's recipe wrote supervisions to *_recordings_* and recordings to *_supervisions_*."""
    manifests, out = prepared
    for split in ("train", "dev", "test1"):
        with gzip.open(out / f"iwslt22_ta_recordings_{split}.jsonl.gz", "rt") as f:
            recs = [json.loads(line) for line in f]
        with gzip.open(out / f"iwslt22_ta_supervisions_{split}.jsonl.gz", "rt") as f:
            sups = [json.loads(line) for line in f]
        assert recs and all("sources" in r and "sampling_rate" in r and "text" not in r for r in recs)
        assert sups and all("recording_id" in s and "text" in s and "sources" not in s for s in sups)
        assert len(sups) == len(manifests[split][1])
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]


def test_counts_are_compared_with_the_published_ones(iwslt22_dirs, caplog):
    with caplog.at_level(logging.WARNING):
        prepare_iwslt22_ta(*iwslt22_dirs, splits=["dev"])
    assert "published 3833 (difference -3830" in caplog.text
    assert "kept: 1 translation empty after normalisation (stored as released)" in caplog.text


def test_dropped_segments_are_counted_in_the_summary(iwslt22_dirs, caplog):
    with caplog.at_level(logging.INFO):
        prepare_iwslt22_ta(*iwslt22_dirs, splits=["train"])
    assert "1 translation empty after normalisation" in caplog.text
    assert "1 excluded by exclude-utterance.txt, 1 repeated start time" in caplog.text


def test_normalisation_on_and_off(iwslt22_dirs):
    """The flag is a plain bool that shadows no function (lhotse's `normalize_text` did, and crashed)."""
    raw = _table(prepare_iwslt22_ta(*iwslt22_dirs, splits=["train"], normalize=False)["train"][1])
    assert raw[(A, 0.5, 1.1)] == ("O/باهي برشا ؟", "Very good, (really)?")
    assert raw[(B, 3.0, 3.8)] == ("الثانية.", "The second: one.")
    assert raw[(A, 5.0, 5.5)] == ("إيه", "...")
    clean = _table(prepare_iwslt22_ta(*iwslt22_dirs, splits=["train"], normalize=True)["train"][1])
    assert clean == EXPECTED["train"]


@pytest.mark.parametrize("module", [iwslt22_ta, fisher_callhome, hkust, multi_conv])
def test_no_parameter_shadows_a_module_name(module):
    for name in module.__all__:
        member = getattr(module, name)
        if inspect.isfunction(member):
            clashes = set(inspect.signature(member).parameters) & set(vars(module))
            assert not clashes, f"{module.__name__}.{name} parameters shadow module names {clashes}"


def _damaged(ldc, iwslt22_dirs, tmp_path):
    corpus, splits = iwslt22_dirs
    return ldc.copy_tree(corpus, tmp_path / "corpus"), ldc.copy_tree(splits, tmp_path / "splits")


def test_missing_corpus_directory(iwslt22_dirs, tmp_path):
    with pytest.raises(CorpusError, match="--corpus-dir") as info:
        prepare_iwslt22_ta(tmp_path / "nowhere", iwslt22_dirs[1], output_dir=tmp_path / "out")
    assert str(tmp_path / "nowhere") in str(info.value)
    assert not (tmp_path / "out").exists()


def test_transcript_without_translation(ldc, iwslt22_dirs, tmp_path):
    corpus, splits = _damaged(ldc, iwslt22_dirs, tmp_path)
    (corpus / "data/translations/ta" / f"{DEV}.eng.tsv").unlink()
    with pytest.raises(CorpusError, match="has no translation") as info:
        prepare_iwslt22_ta(corpus, splits, output_dir=tmp_path / "out")
    assert f"{DEV}.eng.tsv" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_mismatched_line_counts_name_both_files(ldc, iwslt22_dirs, tmp_path):
    corpus, splits = _damaged(ldc, iwslt22_dirs, tmp_path)
    path = corpus / "data/translations/ta" / f"{TEST}.eng.tsv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CorpusError, match="mismatched line counts") as info:
        prepare_iwslt22_ta(corpus, splits, output_dir=out)
    assert f"{TEST}.ta.tsv" in str(info.value) and f"{TEST}.eng.tsv" in str(info.value)
    assert list(out.iterdir()) == []  # train and dev were fine, but nothing is written


def test_translation_with_other_times_is_not_paired(ldc, iwslt22_dirs, tmp_path):
    corpus, splits = _damaged(ldc, iwslt22_dirs, tmp_path)
    path = corpus / "data/translations/ta" / f"{DEV}.eng.tsv"
    path.write_text(path.read_text().replace("2.0\t2.6", "2.1\t2.6"))
    with pytest.raises(CorpusError, match="no line of .* has the same times"):
        prepare_iwslt22_ta(corpus, splits, splits=["dev"])


def test_unknown_file_id_in_split_list(ldc, iwslt22_dirs, tmp_path):
    corpus, splits = _damaged(ldc, iwslt22_dirs, tmp_path)
    (splits / "dev.file_id.txt").write_text(f"{DEV}\n20991231_000000_99999_A\n")
    with pytest.raises(CorpusError) as info:
        prepare_iwslt22_ta(corpus, splits)
    assert "dev.file_id.txt" in str(info.value) and "20991231_000000_99999_A" in str(info.value)


def test_missing_split_list_file(ldc, iwslt22_dirs, tmp_path):
    corpus, splits = _damaged(ldc, iwslt22_dirs, tmp_path)
    (splits / "test1.file_id.txt").unlink()
    with pytest.raises(CorpusError, match="test1.file_id.txt"):
        prepare_iwslt22_ta(corpus, splits)
    shutil.rmtree(splits)
    with pytest.raises(CorpusError, match="iwslt22-dialect"):
        prepare_iwslt22_ta(corpus, splits)


def test_unknown_split_name(iwslt22_dirs):
    with pytest.raises(ValueError, match="train, dev, test1"):
        prepare_iwslt22_ta(*iwslt22_dirs, splits=["test2"])
