"""Noise mixing (SNR range from the energies, probability, missing manifest) and SpecAugment in the training data
path (applied exactly once per batch, with or without CR-CTC); both reproducible per batch; build_components."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, Recording
from lhotse.cut import MixedCut
from lhotse.dataset import SpecAugment
from lhotse.utils import fastcopy

from hent_srt.config import SpecAugmentConfig, load_config
from hent_srt.data.augment import Augmentation, NoiseMixer, cr_ctc_views, data_spec_augment, spec_augment
from hent_srt.data.features import compute_features
from hent_srt.data.loader import make_dataloader
from hent_srt.data.manifest import read_cuts
from hent_srt.data.schema import SchemaError
from hent_srt.data.tokenizer import train_bpe
from hent_srt.model.augment import cr_ctc_spec_augment
from hent_srt.train.distributed import DistInfo
from hent_srt.train.trainer import build_components

NOISE_SECONDS = 3.0


def _noise_cuts(root, num=3):
    """``num`` noise recordings of 3 s (white, and two low-passed colours), without supervisions."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    cuts = []
    for i in range(num):
        wave = rng.standard_normal(int(NOISE_SECONDS * 16000))
        if i:
            wave = np.convolve(wave, np.ones(4 * i) / (4 * i), mode="same")
        path = root / f"noise{i}.wav"
        sf.write(path, (0.1 * wave).astype(np.float32), 16000)
        cut = Recording.from_file(path, recording_id=f"noise{i}").to_cut()
        cuts.append(cut)
    path = root / "musan_cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("augment")
    speech = compute_features(tiny.write_cuts(root, num=12, rates=(16000,)), root / "fbank", "train")
    dev = compute_features(tiny.write_cuts(root / "dev", num=4, rates=(16000,)), root / "fbank", "dev")
    noise = compute_features(_noise_cuts(root / "musan"), root / "fbank", "musan")
    cuts = read_cuts(speech).to_eager()
    src = train_bpe(cuts, "source", 60, root / "src")
    tgt = train_bpe(cuts, "target", 60, root / "tgt")
    return {"root": root, "speech": speech, "dev": dev, "noise": noise, "cuts": cuts, "src": src, "tgt": tgt}


def _measured_snr(clean: np.ndarray, mixed: np.ndarray, noise: np.ndarray) -> float:
    """SNR in dB of a feature-domain mix, from the energies: ``exp(mixed) - exp(clean)`` is the added noise
    energy; it must be one gain times the noise window's energy ``exp(noise)`` in every frame and bin (up to
    float32 rounding of the speech energy it is added to), and nothing after the window."""
    speech = np.exp(clean.astype(np.float64))
    added = np.exp(mixed.astype(np.float64)) - speech
    frames = noise.shape[0]
    noise_energy = np.exp(noise.astype(np.float64))
    gain = added[:frames].sum() / noise_energy.sum()
    error = np.abs(added[:frames] - gain * noise_energy)
    assert (error <= 1e-3 * gain * noise_energy + 1e-6 * speech[:frames]).all(), "not a scaled copy of the noise"
    assert (np.abs(added[frames:]) <= 1e-6 * speech[frames:]).all()
    return 10 * math.log10(speech.sum() / added.sum())


def test_mixed_features_have_an_snr_in_the_range_computed_from_the_energies(corpus):
    noise = read_cuts(corpus["noise"]).to_eager()
    mixer = NoiseMixer(noise, prob=1.0, snr=(10.0, 20.0))
    snrs = []
    for seed in range(6):
        mixed = mixer(corpus["cuts"], seed)
        for cut in mixed:
            assert isinstance(cut, MixedCut) and len(cut.tracks) == 2, "one noise window covers these short cuts"
            clean = corpus["cuts"][cut.id].load_features()
            noise_window = cut.tracks[1].cut.load_features()
            snr = _measured_snr(clean, cut.load_features(), noise_window)
            assert 10.0 - 0.01 <= snr <= 20.0 + 0.01, (cut.id, snr)
            snrs.append(snr)
    assert len(snrs) == 72 and min(snrs) < 12.0 and max(snrs) > 18.0, "SNRs are drawn over the whole range"


@pytest.mark.parametrize("prob", [0.0, 0.2, 0.5, 1.0])
def test_the_mixing_probability_is_honoured(corpus, prob):
    noise = read_cuts(corpus["noise"]).to_eager()
    template = corpus["cuts"]["utt05"]
    speech = CutSet.from_cuts(fastcopy(template, id=f"x{i:04d}") for i in range(4000))  # mixing is lazy: no I/O
    mixed = NoiseMixer(noise, prob=prob).__call__(speech, seed=11)
    count = sum(isinstance(c, MixedCut) for c in mixed)
    assert sorted(mixed.ids) == sorted(speech.ids)
    bound = 4.0 * math.sqrt(len(speech) * prob * (1.0 - prob))  # four binomial standard deviations
    assert abs(count - prob * len(speech)) <= bound, (count, bound)


def test_mixing_and_masking_depend_on_the_batch_and_epoch_only(corpus):
    noise = NoiseMixer(read_cuts(corpus["noise"]).to_eager(), prob=0.5)
    augmentation = Augmentation(noise=noise, spec_augment=spec_augment(SpecAugmentConfig()), seed=3)
    kwargs = {"max_duration": 3.0, "shuffle": False, "num_buckets": 2, "augmentation": augmentation}

    def epoch_features(epoch, workers):
        loader = make_dataloader(corpus["cuts"], corpus["src"], corpus["tgt"], num_workers=workers, **kwargs)
        loader.set_epoch(epoch)
        return [(b.cut_ids, b.features) for b in loader]

    in_process = epoch_features(0, 0)
    with_worker = epoch_features(0, 1)
    assert [ids for ids, _ in in_process] == [ids for ids, _ in with_worker]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(in_process, with_worker))
    next_epoch = epoch_features(1, 0)
    assert [ids for ids, _ in next_epoch] == [ids for ids, _ in in_process]
    assert not all(torch.equal(a, b) for (_, a), (_, b) in zip(in_process, next_epoch))
    clean = [b.features for b in make_dataloader(corpus["cuts"], corpus["src"], corpus["tgt"], max_duration=3.0,
                                                 shuffle=False, num_buckets=2)]
    assert all(not torch.equal(a, c) for (_, a), c in zip(in_process, clean))


def test_published_spec_augment_settings():
    aug = spec_augment(SpecAugmentConfig())
    assert (aug.time_warp_factor, aug.num_feature_masks, aug.features_mask_size, aug.num_frame_masks,
            aug.frames_mask_size, aug.max_frames_mask_fraction, aug.p) == (80, 2, 27, 10, 100, 0.15, 0.9)


def test_cr_ctc_views_scale_the_time_masks_as_icefall():
    """icefall's CR-CTC: int(10 * 2.5) = 25 time masks over at most 0.15 * 2.5 of the frames, no warp in the masks."""
    views = cr_ctc_spec_augment(SpecAugmentConfig(), 2.5)
    assert (views.time_warp_factor, views.num_frame_masks, views.max_frames_mask_fraction,
            views.frames_mask_size, views.num_feature_masks, views.features_mask_size) == (0, 25, 0.375, 100, 2, 27)


@pytest.mark.parametrize("change, field", [
    ({"num_frame_masks": 0}, "data.masking.num_frame_masks=0"),
    ({"num_feature_masks": -1}, "data.masking.num_feature_masks"),
    ({"frames_mask_size": 0}, "data.masking.frames_mask_size"),
    ({"max_frames_mask_fraction": 0.5}, "data.masking.max_frames_mask_fraction=0.5"),
    ({"max_frames_mask_fraction": 0.0}, "data.masking.max_frames_mask_fraction=0.0"),
])
def test_bad_masking_settings_name_the_field(change, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        cr_ctc_spec_augment(SpecAugmentConfig(**change), 2.5)


def test_a_time_mask_ratio_that_leaves_no_time_mask_is_refused():
    """int(10 * 0.05) = 0 time masks: lhotse's SpecAugment would divide by zero in training."""
    with pytest.raises(ValueError, match="at least one time mask"):
        cr_ctc_spec_augment(SpecAugmentConfig(), 0.05)
    assert cr_ctc_spec_augment(SpecAugmentConfig(), 0.1).num_frame_masks == 1


def _config(corpus, use_cr_ctc, **data):
    overrides = [
        f"data.train_cuts={corpus['speech']}", f"data.valid_cuts={corpus['dev']}",
        f"data.src_bpe_model={corpus['src'].model_path}", f"data.tgt_bpe_model={corpus['tgt'].model_path}",
        f"model.asr_vocab_size={corpus['src'].vocab_size}", f"model.st_vocab_size={corpus['tgt'].vocab_size}",
        "data.max_duration=4", "data.num_workers=0", "data.shuffle=false", f"loss.use_cr_ctc={str(use_cr_ctc).lower()}",
    ]
    return load_config("tiny", overrides + [f"data.{k}={v}" for k, v in data.items()])


@pytest.mark.parametrize("use_cr_ctc", [False, True])
def test_spec_augment_is_applied_exactly_once_per_training_batch(corpus, monkeypatch, use_cr_ctc):
    config = _config(corpus, use_cr_ctc)
    assert cr_ctc_views(config) == use_cr_ctc and data_spec_augment(config) == (not use_cr_ctc)
    calls = []
    real_forward = SpecAugment.forward

    def counting(self, features, *args, **kwargs):
        calls.append(features.shape[0])
        return real_forward(self, features, *args, **kwargs)

    monkeypatch.setattr(SpecAugment, "forward", counting)
    parts = build_components(config, DistInfo())
    batch = next(iter(parts.train_loader))
    stored = torch.stack([torch.nn.functional.pad(torch.from_numpy(corpus["cuts"][c].load_features()),
                                                  (0, 0, 0, batch.features.shape[1] - corpus["cuts"][c].num_frames))
                          for c in batch.cut_ids])
    masked_in_data = not torch.equal(batch.features, stored)
    assert masked_in_data == (not use_cr_ctc)
    parts.model.train()
    parts.model(*parts.model_inputs(batch))
    views = 2 * len(batch) if use_cr_ctc else len(batch)
    assert calls == [views], "SpecAugment runs once per batch: in the data path, or on the model's two views"

    calls.clear()
    valid = next(iter(parts.valid_loader))
    assert calls == [] and all(
        torch.equal(valid.features[k, : valid.feature_lens[k]], torch.from_numpy(c.load_features()))
        for k, c in enumerate(read_cuts(corpus["dev"]).to_eager().subset(cut_ids=valid.cut_ids)
                              .sort_by_duration(ascending=False))
    )


@pytest.mark.parametrize("use_cr_ctc", [False, True])
def test_masking_settings_reach_the_data_path_and_the_cr_ctc_views(corpus, monkeypatch, use_cr_ctc):
    masking = {"masking.time_warp_factor": 5, "masking.num_frame_masks": 2, "masking.frames_mask_size": 7,
               "masking.max_frames_mask_fraction": 0.1, "masking.features_mask_size": 4}
    config = _config(corpus, use_cr_ctc, **masking)
    seen = []
    real_forward = SpecAugment.forward

    def recording(self, features, *args, **kwargs):
        seen.append((self.time_warp_factor, self.num_frame_masks, self.frames_mask_size,
                     self.max_frames_mask_fraction, self.features_mask_size))
        return real_forward(self, features, *args, **kwargs)

    monkeypatch.setattr(SpecAugment, "forward", recording)
    parts = build_components(config, DistInfo())
    batch = next(iter(parts.train_loader))
    parts.model.train()
    parts.model(*parts.model_inputs(batch))
    ratio = config.loss.time_mask_ratio
    expected = (0, int(2 * ratio), 7, 0.1 * ratio, 4) if use_cr_ctc else (5, 2, 7, 0.1, 4)
    assert seen == [expected]
    if use_cr_ctc:
        assert parts.model.masking.time_warp_factor == 5  # the views' warp, applied once before duplication


def test_training_with_noise_mixes_and_a_missing_noise_manifest_is_named(corpus, tmp_path):
    config = _config(corpus, True, musan_cuts=corpus["noise"], musan_prob=1.0)
    batch = next(iter(build_components(config, DistInfo()).train_loader))
    first = corpus["cuts"][batch.cut_ids[0]]
    assert not torch.equal(batch.features[0, : first.num_frames], torch.from_numpy(first.load_features()))

    missing = tmp_path / "nope" / "cuts_musan.jsonl.gz"
    with pytest.raises(ValueError, match=rf"data.musan_cuts={missing}: no such file; make it with `hent-srt "
                                         r"features --cuts-in MUSAN_DIR/musan_cuts.jsonl.gz .* --split musan`"):
        build_components(_config(corpus, True, musan_cuts=missing), DistInfo())
    with pytest.raises(ValueError, match=r"data.musan_cuts=.*cut 'utt00' has no 80-dim fbank"):
        build_components(_config(corpus, True, musan_cuts=corpus["root"] / "cuts_raw.jsonl.gz"), DistInfo())
    for key, value in (("musan_prob", 1.5), ("musan_snr", "20,10")):
        with pytest.raises(ValueError, match=f"data.{key}="):
            build_components(_config(corpus, True, musan_cuts=corpus["noise"], **{key: value}), DistInfo())


def test_manifests_are_validated_before_training_unless_their_record_certifies_them(corpus, tmp_path, monkeypatch):
    cuts = read_cuts(corpus["speech"]).to_eager()
    copied = tmp_path / "cuts_copy.jsonl.gz"  # no record beside it: validated in one pass
    CutSet.from_cuts([*cuts, cuts["utt02"]]).to_file(copied)
    with pytest.raises(SchemaError, match=rf"data.train_cuts={copied}: 1 cut.*\n  utt02: duplicate cut id"):
        build_components(_config(corpus, True, train_cuts=copied), DistInfo())

    from hent_srt.data import features

    monkeypatch.setattr(features, "validate_cuts", lambda *a, **k: pytest.fail("a certified manifest was re-read"))
    build_components(_config(corpus, True), DistInfo())


@pytest.mark.parametrize("recipe", ["iwslt22_ta", "fisher_callhome", "hkust", "multi_conv"])
def test_ldc_recipes_name_the_musan_option_when_it_is_missing(recipe):
    run = Path(__file__).resolve().parents[2] / "egs" / recipe / "run.sh"
    proc = subprocess.run(["bash", str(run), "--stage", "1", "--stop-stage", "4"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "--musan-dir DIR" in proc.stderr and "--musan-dir none" in proc.stderr
