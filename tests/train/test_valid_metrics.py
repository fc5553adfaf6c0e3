"""Validation metrics of a tiny real run (micro HENT-SRT, generated tones, on-the-fly fbank): greedy WER and
BLEU on a fixed dev subset in TensorBoard, with the BLEU signature and hypothesis / reference pairs as text."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from lhotse import CutSet

from hent_srt.config import config_from_dict
from hent_srt.data.loader import HentSrtDataset
from hent_srt.data.schema import source_text, target_text
from hent_srt.data.tokenizer import Tokenizer, train_bpe
from hent_srt.metrics import error_rate, translation_score
from hent_srt.train.trainer import EXIT_USER_ERROR, TrainingStopped, run_training
from hent_srt.train.valid_metrics import NUM_EXAMPLES, greedy_token_ids

REPO = Path(__file__).resolve().parents[2]


def tiny_corpus() -> ModuleType:
    """tests/data/tiny_corpus.py (sine tones with es/ar/zh transcripts and English translations)."""
    name = "hent_srt_tests_tiny_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests/data/tiny_corpus.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    cuts_path = tiny_corpus().write_cuts(root, num=10)
    cuts = CutSet.from_file(cuts_path)
    train_bpe(cuts, "source", 150, root / "bpe_src")
    train_bpe(cuts, "target", 100, root / "bpe_tgt")
    return {"cuts": cuts_path, "src": root / "bpe_src" / "bpe.model", "tgt": root / "bpe_tgt" / "bpe.model"}


def micro_config(corpus: dict[str, Path], **train) -> dict:
    enc = {"num_encoder_layers": [1, 1], "downsampling_factor": [1, 2], "encoder_dim": [32, 32],
           "encoder_unmasked_dim": [32, 32], "num_heads": [2, 2], "feedforward_dim": [48, 48],
           "cnn_module_kernel": [7, 7], "query_head_dim": 8, "value_head_dim": 4, "pos_head_dim": 4, "pos_dim": 8}
    return config_from_dict({
        "model": {"subsampling_channels": [4, 8, 16], "asr_encoder": {**enc, "output_downsampling_factor": 2},
                  "st_encoder": {**enc, "num_encoder_layers": [1], "downsampling_factor": [1], "encoder_dim": [32],
                                 "encoder_unmasked_dim": [32], "num_heads": [2], "feedforward_dim": [48],
                                 "cnn_module_kernel": [7], "output_downsampling_factor": 1},
                  "decoder_dim": 16, "joiner_dim": 16,
                  "asr_vocab_size": Tokenizer(corpus["src"]).vocab_size,
                  "st_vocab_size": Tokenizer(corpus["tgt"]).vocab_size},
        "loss": {"prune_range_asr": 3, "prune_range_st": 3, "warm_step": 4, "use_cr_ctc": False},
        "optim": {"base_lr": 0.05, "lr_batches": 100.0, "lr_epochs": 2.0, "warmup_batches": 2.0},
        # 1 s batches of 0.5-0.95 s cuts: one utterance per batch, so the subset decodes without padding
        "data": {"train_cuts": str(corpus["cuts"]), "valid_cuts": str(corpus["cuts"]),
                 "src_bpe_model": str(corpus["src"]), "tgt_bpe_model": str(corpus["tgt"]), "max_duration": 1.0,
                 "num_buckets": 2, "on_the_fly_features": True, "num_workers": 0},
        # 7 cuts are kept (one step each): validation after step 4 and at the end of the epoch (step 7)
        "train": {"num_epochs": 1, "seed": 3, "valid_interval": 4, "save_every_n": 1000, "log_interval": 5,
                  "valid_metrics_num_utts": NUM_EXAMPLES, **train},
        # blank penalties large enough for the barely trained model to emit tokens
        "decode": {"blank_penalty_asr": 4.0, "blank_penalty_st": 3.0, "max_sym_per_frame": 2},
    })


def text_events(events, tag: str) -> list[tuple[int, str]]:
    """(step, text) of every ``SummaryWriter.add_text(tag, ...)`` call."""
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in events.Tensors(f"{tag}/text_summary")]


def parse_examples(markdown: str) -> list[tuple[str, str, str]]:
    return re.findall(r"\*\*(.+?)\*\*  \nref: (.*?)  \nhyp: (.*?)(?:\n\n|$)", markdown)


def test_validation_metrics_in_tensorboard(tmp_path, corpus):
    config = micro_config(corpus)
    trainer = run_training(config, tmp_path / "exp", show_progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "exp" / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("valid/loss")]
    assert steps == [4, 7] and trainer.state.batch_idx_train == 7
    assert [e.step for e in events.Scalars("valid/wer")] == steps
    assert [e.step for e in events.Scalars("valid/bleu")] == steps
    signature = text_events(events, "valid/bleu_signature")
    assert len(signature) == 1 and signature[0][0] == steps[0] and "nrefs:1" in signature[0][1]
    # the last validation saw the final model: decode the shown utterances again, one at a time
    cuts = {c.id: c for c in CutSet.from_file(corpus["cuts"])}
    src_tok, tgt_tok = Tokenizer(corpus["src"]), Tokenizer(corpus["tgt"])
    dataset = HentSrtDataset(src_tok, tgt_tok, on_the_fly=True)
    model = trainer.raw_model.eval()
    shown = {task: parse_examples(text_events(events, f"valid/examples_{task}")[-1][1]) for task in ("asr", "st")}
    for task, tok, penalty, ref_of in (("asr", src_tok, 4.0, source_text), ("st", tgt_tok, 3.0, target_text)):
        pairs = shown[task]
        assert len(pairs) == NUM_EXAMPLES
        hyps = []
        for cut_id, ref, hyp in pairs:
            assert ref == ref_of(cuts[cut_id])
            batch = dataset[CutSet.from_cuts([cuts[cut_id]]).resample(16000)]
            with torch.no_grad():
                enc = model.encode(batch.features, batch.feature_lens)[task]
                ids = greedy_token_ids(model, task, enc.out, enc.lens, penalty, 2)
            hyps.append(tok.decode(ids)[0])
            assert hyp == hyps[-1] and hyp, (task, cut_id)
        refs = [ref for _, ref, _ in pairs]
        if task == "asr":
            expected = error_rate(refs, hyps, unit="word").rate
            assert events.Scalars("valid/wer")[-1].value == pytest.approx(expected, rel=1e-6)
        else:
            score = translation_score(hyps, [refs])
            assert events.Scalars("valid/bleu")[-1].value == pytest.approx(score.bleu, rel=1e-6, abs=1e-6)
            assert signature[0][1] == score.bleu_signature


def test_zero_utterances_disable_the_metrics(tmp_path, corpus):
    config = micro_config(corpus, max_steps=1, valid_interval=1, valid_metrics_num_utts=0)
    run_training(config, tmp_path / "exp", show_progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "exp" / "tensorboard"))
    events.Reload()
    assert "valid/loss" in events.Tags()["scalars"] and "valid/wer" not in events.Tags()["scalars"]
    assert not [t for t in events.Tags()["tensors"] if t.startswith("valid/")]


def test_every_cut_filtered_out_is_an_error(tmp_path, corpus):
    config = micro_config(corpus)
    config.data.max_utterance_duration = 0.3  # every tone is 0.5 s or longer
    with pytest.raises(TrainingStopped) as err:
        run_training(config, tmp_path / "exp", show_progress=False)
    assert err.value.exit_status == EXIT_USER_ERROR and "no batch" in str(err.value)
    assert not list((tmp_path / "exp").glob("*.pt"))
