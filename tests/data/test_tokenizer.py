"""Sentencepiece tokenizers: id layout, round trips in three scripts, no <unk> on training text, errors."""

from __future__ import annotations

import argparse

import pytest
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from hent_srt.data import tokenizer as tok_mod
from hent_srt.data.schema import make_supervision, source_text, target_refs
from hent_srt.data.tokenizer import Tokenizer, train_bpe

EXTRA = [
    ("es", "el niño y la niña cantan en el jardín", "the boy and the girl sing in the garden"),
    ("ar", "ذهب الطالب إلى الجامعة صباحا", "the student went to the university in the morning"),
    ("zh", "我们明天去北京看朋友", "tomorrow we go to beijing to see friends"),
]


@pytest.fixture(scope="module")
def cuts(tiny):
    out = []
    for i, (lang, text, translation) in enumerate(tiny.SENTENCES + EXTRA):
        cut = dummy_cut(i, duration=1.0, with_data=False)
        refs = [translation, translation.upper()] if i == 0 else None
        cut.supervisions = [
            make_supervision(
                f"s{i}", cut.recording_id, 0, 1.0, 0, text, lang, translation, translation_refs=refs
            )
        ]
        out.append(cut)
    return CutSet.from_cuts(out)


@pytest.fixture(scope="module")
def src_tok(cuts, tmp_path_factory):
    return train_bpe(cuts, "source", 400, tmp_path_factory.mktemp("src"))


def test_id_layout_and_tokens_file(src_tok):
    assert [src_tok.id_to_piece(i) for i in range(3)] == ["<blk>", "<sos/eos>", "<unk>"]
    assert (src_tok.blank_id, src_tok.sos_eos_id, src_tok.unk_id) == (0, 1, 2)
    lines = (src_tok.model_path.parent / "tokens.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == src_tok.vocab_size <= 400
    for i, line in enumerate(lines):
        piece, idx = line.rsplit(" ", 1)
        assert int(idx) == i and piece == src_tok.id_to_piece(i)
    assert Tokenizer(src_tok.model_path.parent).vocab_size == src_tok.vocab_size


def test_round_trip_latin_arabic_chinese_without_unk(src_tok, cuts):
    texts = [source_text(c) for c in cuts]
    assert {c.supervisions[0].language for c in cuts} == {"es", "ar", "zh"}
    ids = src_tok.encode(texts)
    assert all(seq and src_tok.unk_id not in seq and src_tok.blank_id not in seq for seq in ids)
    assert src_tok.decode(ids) == texts


def test_unseen_characters_use_byte_fallback_not_unk(src_tok):
    unseen = ["猫咪喝牛奶", "قطة صغيرة", "über straße €5"]
    ids = src_tok.encode(unseen)
    assert all(src_tok.unk_id not in seq for seq in ids)
    assert src_tok.decode(ids) == unseen


def test_target_side_trains_on_every_reference_translation(cuts, tmp_path):
    tgt = train_bpe(cuts, "target", 300, tmp_path)
    refs = [r for c in cuts for r in target_refs(c)]
    assert "MY BROTHER'S HOUSE" in refs
    ids = tgt.encode(refs)
    assert all(tgt.unk_id not in seq for seq in ids)
    assert tgt.decode(ids) == refs
    pieces = {tgt.id_to_piece(i) for i in range(tgt.vocab_size)}
    assert not any("\u4e00" <= ch <= "\u9fff" for p in pieces for ch in p), (
        "source text leaked into target model"
    )


def test_small_vocab_drops_byte_fallback_but_keeps_every_training_character(cuts, tmp_path, caplog):
    tok = train_bpe(cuts, "source", 150, tmp_path)
    assert "no room for byte fallback" in caplog.text
    assert tok.vocab_size <= 150
    texts = [source_text(c) for c in cuts]
    ids = tok.encode(texts)
    assert all(tok.unk_id not in seq for seq in ids)
    assert tok.decode(ids) == texts


def test_too_small_vocab_says_how_large_it_must_be(cuts, tmp_path):
    with pytest.raises(ValueError, match=r"vocab_size 20 is too small .* at least (\d+)"):
        train_bpe(cuts, "source", 20, tmp_path)
    with pytest.raises(ValueError, match="with byte fallback"):
        train_bpe(cuts, "source", 150, tmp_path, byte_fallback=True)


def test_bad_arguments(cuts, src_tok, tmp_path):
    with pytest.raises(ValueError, match="side"):
        train_bpe(cuts, "middle", 100, tmp_path)
    with pytest.raises(ValueError, match="list of strings"):
        src_tok.encode("hola")
    with pytest.raises(ValueError, match="outside"):
        src_tok.decode([[src_tok.vocab_size]])
    with pytest.raises(ValueError, match="hent-srt bpe"):
        Tokenizer(tmp_path / "missing.model")


def test_cli_trains_then_skips(cuts, tmp_path, capsys):
    manifest = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(manifest)
    parser = argparse.ArgumentParser()
    tok_mod.add_arguments(parser)
    argv = [
        "--cuts",
        str(manifest),
        "--side",
        "target",
        "--vocab-size",
        "300",
        "--out-dir",
        str(tmp_path / "t"),
    ]
    assert tok_mod.main(parser.parse_args(argv)) == 0
    assert (tmp_path / "t" / "bpe.model").is_file() and (tmp_path / "t" / "tokens.txt").is_file()
    assert tok_mod.main(parser.parse_args(argv)) == 0
    assert "skipping" in capsys.readouterr().out
    bad = [
        "--cuts",
        str(manifest),
        "--side",
        "source",
        "--vocab-size",
        "20",
        "--out-dir",
        str(tmp_path / "s"),
    ]
    assert tok_mod.main(parser.parse_args(bad)) == 2
    assert "too small" in capsys.readouterr().err
