"""The union of the three prepared corpora: languages, splits, counts, id clashes."""

from __future__ import annotations

import pytest

from hent_srt.data.corpora.fisher_callhome import prepare_fisher_callhome
from hent_srt.data.corpora.hkust import prepare_hkust
from hent_srt.data.corpora.iwslt22_ta import prepare_iwslt22_ta
from hent_srt.data.corpora.manifests import CorpusError, manifest_paths
from hent_srt.data.corpora.multi_conv import prepare_multi_conv


@pytest.fixture(scope="module")
def prepared_dirs(iwslt22_dirs, fisher_dirs, hkust_dirs, tmp_path_factory):
    root = tmp_path_factory.mktemp("manifests")
    counts = {}
    for name, run in (
        ("iwslt22_ta", lambda out: prepare_iwslt22_ta(*iwslt22_dirs, output_dir=out)),
        ("fisher_callhome", lambda out: prepare_fisher_callhome(**fisher_dirs, output_dir=out)),
        ("hkust", lambda out: prepare_hkust(**hkust_dirs, output_dir=out)),
    ):
        counts[name] = {split: len(sups) for split, (_, sups) in run(root / name).items()}
    return {name: root / name for name in counts}, counts


def test_union_splits_languages_and_counts(prepared_dirs, tmp_path):
    dirs, counts = prepared_dirs
    union = prepare_multi_conv(dirs, output_dir=tmp_path)
    train = union["train"][1]
    assert (
        len(train)
        == counts["iwslt22_ta"]["train"]
        + counts["fisher_callhome"]["fisher_train"]
        + counts["fisher_callhome"]["callhome_train"]
        + counts["hkust"]["train"]
    )
    assert {s.language for s in train} == {"aeb", "es", "zh"}
    assert (
        len(union["dev"][1])
        == counts["iwslt22_ta"]["dev"] + counts["fisher_callhome"]["fisher_dev"] + counts["hkust"]["dev"]
    )
    assert set(union) == {
        "train",
        "dev",
        "iwslt22_ta_test1",
        "fisher_dev2",
        "fisher_test",
        "callhome_devtest",
        "callhome_evltest",
        "hkust_dev",
    }
    assert {s.language for s in union["fisher_test"][1]} == {"es"}
    assert all(s.custom["translated_refs"]["en"] for s in union["fisher_test"][1])
    for split in union:
        assert all(p.is_file() for p in manifest_paths(tmp_path, "multi_conv", split))


def test_subset_of_corpora(prepared_dirs):
    dirs, counts = prepared_dirs
    union = prepare_multi_conv({"hkust": dirs["hkust"]})
    assert set(union) == {"train", "dev", "hkust_dev"}
    assert len(union["train"][1]) == counts["hkust"]["train"]


def test_corpus_without_prepared_training_split(prepared_dirs, tmp_path):
    dirs, _ = prepared_dirs
    with pytest.raises(CorpusError, match="iwslt22_ta: no training split in"):
        prepare_multi_conv({"hkust": dirs["hkust"], "iwslt22_ta": tmp_path})


def test_unknown_corpus_name(prepared_dirs):
    with pytest.raises(ValueError, match="iwslt22_ta, fisher_callhome, hkust"):
        prepare_multi_conv({"librispeech": prepared_dirs[0]["hkust"]})
