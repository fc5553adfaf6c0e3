"""The synthetic speech-translation corpus: grammars, splits, eSpeak NG speech, manifests and the CLI."""

from __future__ import annotations

import argparse
import gzip
import random
import re

import numpy as np
import pytest
import soundfile as sf

from hent_srt.data.corpora import synth_audio
from hent_srt.data.corpora.synth import add_arguments, build_corpus, main, manifest_path, num_crossings
from hent_srt.data.corpora.synth_grammar import count_swaps
from hent_srt.data.corpora.synth_text import PAIRS, generate_sentence, is_held_out, make_splits

pytest.importorskip("espeakng_loader")


def _sample(pair: str, n: int = 300, seed: int = 0) -> list:
    rng = random.Random(seed)
    return [generate_sentence(pair, rng) for _ in range(n)]


def test_count_swaps_brute_force_known_answers():
    assert count_swaps([(0, 0), (1, 1), (2, 2)]) == 0
    assert count_swaps([(0, 1), (1, 0)]) == 1
    assert count_swaps([(0, 2), (1, 1), (2, 0)]) == 3
    # One source word aligned to two target words never forms a swap with itself.
    assert count_swaps([(0, 0), (0, 2), (1, 1)]) == 1


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_every_pair_reorders_and_alignments_are_valid(pair):
    sentences = _sample(pair)
    for s in sentences:
        assert 4 <= len(s.tgt_words) <= 10, s.translation
        assert s.translation == " ".join(s.tgt_words)
        for i, j in s.links:
            assert 0 <= i < len(s.src_words) and 0 <= j < len(s.tgt_words)
    with_swap = sum(count_swaps(s.links) > 0 for s in sentences) / len(sentences)
    assert with_swap >= 0.3, f"{pair}: only {with_swap:.0%} of sentences reorder"
    assert sum(count_swaps(s.links) == 0 for s in sentences) > 0  # monotone sentences exist too


def _has(sentences, src_pattern: str, tgt_pattern: str) -> bool:
    return any(re.search(src_pattern, s.text) and re.search(tgt_pattern, s.translation) for s in sentences)


def test_spanish_phenomena():
    sentences = _sample("es-en")
    assert _has(sentences, r"\bde (mi|tu|nuestr[oa]) \w+", r"\b(my|your|our) \w+'s \w+")  # possessive
    assert _has(
        sentences,
        r"\b(casa|coche|libro) (roj|blanc|negr|nuev|viej)",
        r"(red|white|black|new|old) (house|car|book)",
    )
    assert _has(sentences, r"\bno (lo|la|los|las) \w+", r"\b(do|does) not \w+ (it|them)")  # clitic + negation
    for s in sentences:
        assert s.spoken == s.text


def test_arabic_vso_and_diacritics():
    sentences = _sample("ar-en")
    diacritic = re.compile("[\u064b-\u0652]")
    vso = 0
    for s in sentences:
        assert not diacritic.search(s.text), s.text  # transcripts are undiacritised
        assert diacritic.search(s.spoken), s.spoken  # eSpeak reads the diacritised form
        assert len(s.spoken.split()) == len(s.src_words)
        first_links = [j for i, j in s.links if i == 0]
        vso += bool(first_links) and min(first_links) >= 2  # "V S ..." → "the S V ..."
    assert vso >= 30
    assert _has(sentences, r"\S+ ال\S+", r"the \w+'s \w+")  # construct state with a person


def test_mandarin_phenomena_and_pinyin():
    sentences = _sample("zh-en")
    for s in sentences:
        assert " " not in s.text and s.text == "".join(s.src_words)
        syllables = s.spoken.split()
        assert all(re.fullmatch(r"[a-z]+[1-5]", x) for x in syllables), s.spoken
        assert len(syllables) == len(s.text)  # one syllable per character
    assert _has(
        sentences, r"的", r"\bthat (i|you|he|she|we|they|my|the|her)\b"
    )  # relative clause before noun
    assert _has(sentences, r"^\S*(昨天|上个星期)", r"(yesterday|last week)$")  # time before the verb
    assert _has(sentences, r"[一两三五][本只辆个台件张把封朵条座支份幅部块]", r"\b(a|an|two|three|five)\b")


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_splits_are_disjoint_and_hold_out_combinations(pair):
    seed = 5
    splits = make_splits(pair, seed, {"train": 300, "dev": 30, "test": 30})
    assert {k: len(v) for k, v in splits.items()} == {"train": 300, "dev": 30, "test": 30}
    texts = {k: {s.text for s in v} for k, v in splits.items()}
    translations = {k: {s.translation for s in v} for k, v in splits.items()}
    assert len(texts["train"]) == 300
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not texts[a] & texts[b] and not translations[a] & translations[b]
    assert not any(is_held_out(c, seed) for s in splits["train"] for c in s.combos)
    held = sum(any(is_held_out(c, seed) for c in s.combos) for s in splits["test"])
    assert held >= 10
    again = make_splits(pair, seed, {"train": 300, "dev": 30, "test": 30})
    assert [s.text for s in again["train"]] == [s.text for s in splits["train"]]


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_a_second_test_set_is_disjoint_and_leaves_the_other_splits_alone(pair):
    seed = 5
    sizes = {"train": 300, "dev": 30, "test": 30}
    without = make_splits(pair, seed, sizes)
    splits = make_splits(pair, seed, {**sizes, "test2": 60})
    assert len(splits["test2"]) == 60
    for split in sizes:
        assert [s.text for s in splits[split]] == [s.text for s in without[split]]
    test2_texts = {s.text for s in splits["test2"]}
    test2_translations = {s.translation for s in splits["test2"]}
    assert len(test2_texts) == 60
    for split in sizes:
        assert not test2_texts & {s.text for s in splits[split]}
        assert not test2_translations & {s.translation for s in splits[split]}
    assert all(any(is_held_out(c, seed) for c in s.combos) for s in splits["test2"][::3])


def test_make_splits_rejects_bad_sizes():
    with pytest.raises(ValueError, match="train"):
        make_splits("es-en", 0, {"train": -1, "dev": 0, "test": 0})
    with pytest.raises(ValueError, match="pair"):
        make_splits("fr-en", 0, {"train": 1, "dev": 0, "test": 0})


def _frames_with_speech(samples: np.ndarray, rate: int) -> float:
    frame = int(0.025 * rate)
    x = samples[: len(samples) // frame * frame].astype(np.float64).reshape(-1, frame)
    energy = np.sqrt(np.mean(x**2, axis=1))
    return float(np.mean(energy > 0.05 * energy.max()))


@pytest.mark.parametrize(
    "voice, short, long",
    [
        ("es+m3", "casa", "mi hermano compra el coche rojo en la ciudad"),
        ("ar+f2", "بَيْتٌ", "كَتَبَ الوَلَدُ الرِّسَالَةَ الطَّوِيلَةَ فِي المَدْرَسَةِ"),
        ("cmn-latn-pinyin+m1", "shu1", "wo3 zuo2 tian1 zai4 gong1 yuan2 kan4 le5 yi1 zhi1 gou3"),
    ],
)
def test_espeak_speaks_all_three_languages(voice, short, long):
    from hent_srt.data.corpora.espeak import get_espeak

    engine = get_espeak()
    a = engine.synth(short, voice, seed=1)
    b = engine.synth(long, voice, seed=1)
    assert engine.sample_rate == 22050
    assert np.sqrt(np.mean(b.astype(np.float64) ** 2)) > 300  # int16 RMS: clearly not silence
    assert _frames_with_speech(b, engine.sample_rate) > 0.3
    assert len(b) > 3 * len(a)  # the longer text really is spoken


def _build(tmp_path, pair, **kwargs):
    sizes = {"num_train": 6, "num_dev": 2, "num_test": 2}
    sizes.update(kwargs.pop("sizes", {}))
    return build_corpus(pair, tmp_path, seed=kwargs.pop("seed", 11), progress=False, **sizes, **kwargs)


@pytest.mark.parametrize("pair, telephone", [("es-en", False), ("ar-en", True), ("zh-en", False)])
def test_corpus_audio_and_manifests(tmp_path, pair, telephone):
    from lhotse import CutSet

    from hent_srt.data.schema import validate_cuts

    paths = _build(tmp_path, pair, telephone=telephone, num_jobs=2)
    rate = 8000 if telephone else 16000
    for split, size in (("train", 6), ("dev", 2), ("test", 2)):
        assert paths[split] == manifest_path(tmp_path.resolve(), pair, split)
        cuts = CutSet.from_file(paths[split]).to_eager()
        assert len(cuts) == size
        validate_cuts(cuts)
        for cut in cuts:
            sup = cut.supervisions[0]
            assert sup.language == PAIRS[pair].language
            words = len(sup.custom["translated_text"]["en"].split())
            assert 0.08 * words < cut.duration < min(30.0, 1.0 * words + 1.0), (cut.id, cut.duration)
            audio, file_rate = sf.read(cut.recording.sources[0].source, dtype="int16")
            assert file_rate == cut.sampling_rate == rate and len(audio) == cut.recording.num_samples
            assert _frames_with_speech(audio, rate) > 0.3
    assert not list(tmp_path.rglob("*.tmp"))


def test_manifests_record_the_crossings_of_the_grammar_and_features_keep_them(tmp_path):
    from lhotse import CutSet

    from hent_srt.data.features import compute_features

    pair, seed = "zh-en", 5
    sizes = {"train": 12, "dev": 2, "test": 4}
    paths = _build(tmp_path, pair, seed=seed, sizes={f"num_{k}": v for k, v in sizes.items()})
    sentences = make_splits(pair, seed, sizes)
    recorded = []
    for split in ("train", "dev", "test"):
        cuts = CutSet.from_file(paths[split]).to_eager()
        expected = [count_swaps(s.links) for s in sentences[split]]
        got = [num_crossings(cut) for cut in sorted(cuts, key=lambda c: c.id)]
        assert got == expected, split
        recorded += got
    assert 0 in recorded and max(recorded) > 0  # both monotone and reordered sentences
    fbank = CutSet.from_file(compute_features(paths["test"], tmp_path / "fbank", "test")).to_eager()
    assert [num_crossings(c) for c in sorted(fbank, key=lambda c: c.id)] == [
        count_swaps(s.links) for s in sentences["test"]
    ]


def test_same_seed_gives_byte_identical_manifests(tmp_path, monkeypatch):
    monkeypatch.setattr(synth_audio, "CHUNK_SIZE", 4)  # several chunks, shared differently by the workers
    first = {k: p.read_bytes() for k, p in _build(tmp_path, "es-en", num_jobs=2).items()}
    first_audio = {p.name: sf.read(p, dtype="int16")[0] for p in sorted(tmp_path.rglob("*.flac"))}
    second = {k: p.read_bytes() for k, p in _build(tmp_path, "es-en", num_jobs=1).items()}
    second_audio = {p.name: sf.read(p, dtype="int16")[0] for p in sorted(tmp_path.rglob("*.flac"))}
    assert first == second
    assert first_audio.keys() == second_audio.keys() and len(first_audio) == 10
    assert all(np.array_equal(first_audio[k], second_audio[k]) for k in first_audio)
    other = {k: p.read_bytes() for k, p in _build(tmp_path, "es-en", num_jobs=2, seed=12).items()}
    assert other["train"] != first["train"]


def test_the_second_test_set_written_alone_is_the_full_commands(tmp_path):
    full = _build(tmp_path / "full", "zh-en", sizes={"num_test2": 5})
    alone = _build(tmp_path / "alone", "zh-en", sizes={"num_test2": 5}, only_test2=True)
    assert sorted(full) == ["dev", "test", "test2", "train"] and sorted(alone) == ["test2"]
    root_full, root_alone = str((tmp_path / "full").resolve()), str((tmp_path / "alone").resolve())
    text = {name: gzip.decompress(paths["test2"].read_bytes()).decode() for name, paths in (("full", full),
                                                                                             ("alone", alone))}
    assert text["alone"].replace(root_alone, "ROOT") == text["full"].replace(root_full, "ROOT")
    audio = {name: {p.name: p.read_bytes() for p in sorted((tmp_path / name).rglob("*test2*.flac"))}
             for name in ("full", "alone")}
    assert len(audio["full"]) == 5 and audio["alone"] == audio["full"]
    assert not (tmp_path / "alone" / "audio" / "zh-en" / "train").exists()
    with pytest.raises(ValueError, match="--num-test2"):
        _build(tmp_path / "none", "zh-en", only_test2=True)


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_rejects_bad_counts_with_exit_2(tmp_path, capsys):
    args = _parse(["--pair", "es-en", "--out-dir", str(tmp_path), "--num-train", "-3"])
    assert main(args) == 2
    assert "num_train" in capsys.readouterr().err
    args = _parse(
        [
            "--pair",
            "zh-en",
            "--out-dir",
            str(tmp_path),
            "--num-train",
            "0",
            "--num-dev",
            "0",
            "--num-test",
            "0",
        ]
    )
    assert main(args) == 2
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    args = _parse(["--pair", "es-en", "--out-dir", str(blocker), "--num-train", "1", "--num-dev", "0"])
    assert main(args) == 2
    assert "--out-dir" in capsys.readouterr().err


def test_cli_writes_the_corpus(tmp_path, capsys):
    args = _parse(
        [
            "--pair",
            "zh-en",
            "--out-dir",
            str(tmp_path),
            "--num-train",
            "3",
            "--num-dev",
            "1",
            "--num-test",
            "1",
            "--seed",
            "2",
            "--num-jobs",
            "1",
        ]
    )
    assert main(args) == 0
    assert "utterances/s" in capsys.readouterr().out
    for split in ("train", "dev", "test"):
        assert manifest_path(tmp_path, "zh-en", split).exists()
