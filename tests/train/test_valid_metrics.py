"""Validation metrics of a tiny real run (micro HENT-SRT, generated tones, on-the-fly fbank): greedy WER and
BLEU on a fixed dev subset in TensorBoard, with the BLEU signature and hypothesis / reference pairs as text."""

from __future__ import annotations

import re

import pytest
import torch
from lhotse import CutSet

from hent_srt.data.loader import HentSrtDataset
from hent_srt.data.schema import source_text, target_text
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.metrics import error_rate, translation_score
from hent_srt.train.trainer import EXIT_USER_ERROR, TrainingStopped, run_training
from hent_srt.train.valid_metrics import NUM_EXAMPLES, greedy_token_ids


def text_events(events, tag: str) -> list[tuple[int, str]]:
    """(step, text) of every ``SummaryWriter.add_text(tag, ...)`` call."""
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in events.Tensors(f"{tag}/text_summary")]


def parse_examples(markdown: str) -> list[tuple[str, str, str]]:
    return re.findall(r"\*\*(.+?)\*\*  \nref: (.*?)  \nhyp: (.*?)(?:\n\n|$)", markdown)


def test_validation_metrics_in_tensorboard(tmp_path, micro_corpus, standins):
    config = standins.micro_run_config(micro_corpus)
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
    cuts = {c.id: c for c in CutSet.from_file(micro_corpus["cuts"])}
    src_tok, tgt_tok = Tokenizer(micro_corpus["src"]), Tokenizer(micro_corpus["tgt"])
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


def test_zero_utterances_disable_the_metrics(tmp_path, micro_corpus, standins):
    config = standins.micro_run_config(micro_corpus, max_steps=1, valid_interval=1, valid_metrics_num_utts=0)
    run_training(config, tmp_path / "exp", show_progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "exp" / "tensorboard"))
    events.Reload()
    assert "valid/loss" in events.Tags()["scalars"] and "valid/wer" not in events.Tags()["scalars"]
    assert not [t for t in events.Tags()["tensors"] if t.startswith("valid/")]


def test_every_cut_filtered_out_is_an_error(tmp_path, micro_corpus, standins):
    config = standins.micro_run_config(micro_corpus)
    config.data.max_utterance_duration = 0.3  # every tone is 0.5 s or longer
    with pytest.raises(TrainingStopped) as err:
        run_training(config, tmp_path / "exp", show_progress=False)
    assert err.value.exit_status == EXIT_USER_ERROR and "no batch" in str(err.value)
    assert not list((tmp_path / "exp").glob("*.pt"))
