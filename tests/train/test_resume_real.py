"""A resume inside a real training run continues bit for bit: micro HENT-SRT with CR-CTC (two SpecAugment views),
the lhotse sampler and dataset, features computed on the fly; the Whiten modules' adaptive check probabilities
(training state outside ``state_dict``) come back from the checkpoint."""

from __future__ import annotations

import torch

from hent_srt.model.scaling import ScheduledFloat, Whiten, whiten_probs
from hent_srt.train.trainer import build_components, run_training


def passing_whitens(config, dist_info):
    """``build_components`` with every Whiten's limit out of reach: each check passes and drops that module to
    its ``min_prob``, so after a few steps the probabilities differ from a freshly built model's."""
    parts = build_components(config, dist_info)
    for module in parts.model.modules():
        if isinstance(module, Whiten):
            module.whitening_limit = ScheduledFloat((0.0, 1.0e9), default=1.0e9)
    return parts


def train(micro_corpus, standins, exp_dir, max_steps, resume=False):
    config = standins.micro_run_config(micro_corpus, num_epochs=2, max_steps=max_steps, valid_interval=1000,
                                       valid_metrics_num_utts=0)
    config.loss.use_cr_ctc = True
    return run_training(config, exp_dir, build=passing_whitens, resume=resume, show_progress=False)


def test_a_resumed_real_run_equals_the_uninterrupted_one(tmp_path, micro_corpus, standins):
    # 7 one-utterance steps per epoch: the resume at step 5 is mid-epoch and the run crosses into epoch 2
    straight = train(micro_corpus, standins, tmp_path / "straight", max_steps=10)
    first = train(micro_corpus, standins, tmp_path / "resumed", max_steps=5)
    # the state restored below matters: some Whiten left its starting probability (max_prob) in the first 5 steps
    whitens = {name: m for name, m in first.raw_model.named_modules() if isinstance(m, Whiten)}
    assert whitens and any(m.prob != m.max_prob for m in whitens.values())
    resumed = train(micro_corpus, standins, tmp_path / "resumed", max_steps=10, resume=True)

    assert resumed.state == straight.state and resumed.state.epoch == 2
    assert whiten_probs(resumed.raw_model) == whiten_probs(straight.raw_model)
    for ours, theirs in ((resumed.raw_model, straight.raw_model), (resumed.model_avg, straight.model_avg)):
        theirs_state = theirs.state_dict()
        for name, value in ours.state_dict().items():
            assert torch.equal(value, theirs_state[name]), name
    # training moved the weights after the resume
    before = first.raw_model.state_dict()
    assert any(not torch.equal(value, before[name]) for name, value in resumed.raw_model.state_dict().items())
