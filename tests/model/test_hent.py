"""HENT-SRT model family: published parameter counts, training, gradient routing, stage-1 → stage-2 init,
CR-CTC views, configuration errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import hent_srt.model.augment as augment
from hent_srt.config import EncoderConfig, LossConfig, ModelConfig, SpecAugmentConfig, load_config
from hent_srt.model.hent import build_model
from hent_srt.model.scaling import set_batch_count
from hent_srt.optim import Eden, ScaledAdam


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "preset, expected",
    [("hent_srt", 73_108_680), ("asr_pretrain", 43_609_903), ("nt_shared", 66_138_139)],
)
def test_published_parameter_counts(preset, expected):
    cfg = load_config(preset)
    assert count(build_model(cfg.model, cfg.loss)) == expected


def micro_encoder(num_stacks: int, output_ds: int) -> EncoderConfig:
    return EncoderConfig(
        num_encoder_layers=(1,) * num_stacks,
        downsampling_factor=(1, 2)[:num_stacks],
        encoder_dim=(64,) * num_stacks,
        encoder_unmasked_dim=(64,) * num_stacks,
        num_heads=(2,) * num_stacks,
        feedforward_dim=(96,) * num_stacks,
        cnn_module_kernel=(7,) * num_stacks,
        query_head_dim=16,
        value_head_dim=8,
        pos_head_dim=4,
        pos_dim=16,
        output_downsampling_factor=output_ds,
    )


def micro_config(encoder_type: str = "hier", tasks=("asr", "st"), use_ctc: bool = True) -> ModelConfig:
    return ModelConfig(
        encoder_type=encoder_type,
        tasks=tuple(tasks),
        subsampling_channels=(4, 8, 16),
        asr_encoder=micro_encoder(2, 2),
        st_encoder=micro_encoder(1, 1),
        decoder_dim=32,
        joiner_dim=32,
        asr_vocab_size=12,
        st_vocab_size=10,
        use_ctc=use_ctc,
    )


def micro_loss(**overrides) -> LossConfig:
    return dataclasses.replace(LossConfig(prune_range_asr=4, prune_range_st=3, warm_step=20), **overrides)


def random_batch(seed: int = 0, num_frames=(160, 140, 120, 100)) -> tuple:
    """The arguments of ``HentSrt.forward``: features (B, T, 80), lengths (B,) and token lists per task."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(len(num_frames), max(num_frames), 80, generator=g)
    src = [torch.randint(1, 12, (n,), generator=g).tolist() for n in (7, 6, 5, 4)]
    tgt = [torch.randint(1, 10, (n,), generator=g).tolist() for n in (6, 6, 4, 3)]
    return feats, torch.tensor(num_frames), {"asr": src, "st": tgt}


@pytest.mark.parametrize("encoder_type", ["hier", "shared"])
def test_tiny_model_fits_a_fixed_batch(encoder_type):
    torch.manual_seed(0)
    model = build_model(micro_config(encoder_type), micro_loss())
    optimizer = ScaledAdam(model.named_parameters(), lr=0.05, clipping_scale=2.0)
    scheduler = Eden(optimizer, lr_batches=1000, lr_epochs=100, warmup_batches=10)
    batch = random_batch()
    model.train()
    losses = []
    for step in range(120):
        set_batch_count(model, step)
        loss = model(*batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step_batch(step)
        losses.append(loss.item())
        if losses[-1] <= 0.5 * losses[0] and step >= 20:
            break
    assert min(losses[-5:]) <= 0.5 * losses[0], losses[::10]


def grads_after_backward(model, batch) -> dict[str, bool]:
    model.train()
    model.zero_grad()
    model(*batch)["loss"].backward()
    return {
        n: p.grad is not None and bool(p.grad.abs().sum() > 0)
        for n, p in model.named_parameters()
        if p.requires_grad
    }


def test_every_parameter_gets_a_gradient_in_both_stages():
    torch.manual_seed(1)
    for tasks in (("asr",), ("asr", "st")):
        model = build_model(micro_config(tasks=tasks), micro_loss())
        got = grads_after_backward(model, random_batch())
        missing = [n for n, ok in got.items() if not ok]
        assert not missing, missing
    stage1 = build_model(micro_config(tasks=("asr",)), micro_loss())
    assert not any(n.startswith(("st_encoder.", "heads.st.")) for n, _ in stage1.named_parameters())


def test_st_loss_alone_trains_the_st_path_and_enc_asr_but_not_the_asr_heads():
    torch.manual_seed(2)
    model = build_model(micro_config(), micro_loss(asr_scale=0.0))
    got = grads_after_backward(model, random_batch())
    assert not any(ok for n, ok in got.items() if n.startswith("heads.asr."))
    for prefix in ("heads.st.", "st_encoder.", "encoder.", "encoder_embed."):
        assert any(ok for n, ok in got.items() if n.startswith(prefix)), prefix


def test_stage1_to_stage2_init_copies_bit_exactly_and_reports_new():
    torch.manual_seed(3)
    stage1 = build_model(micro_config(tasks=("asr",)), micro_loss())
    stage2 = build_model(micro_config(), micro_loss())
    report = stage2.init_from(stage1.state_dict())
    s1, s2 = stage1.state_dict(), stage2.state_dict()
    assert set(report["loaded"]) == set(s1)
    for name in s1:
        assert torch.equal(s1[name], s2[name]), name
    assert report["new"] and all(n.startswith(("st_encoder.", "heads.st.")) for n in report["new"])
    assert set(report["new"]) | set(report["loaded"]) == set(s2)


def test_init_from_refuses_shape_mismatch_unless_told():
    stage1 = build_model(dataclasses.replace(micro_config(tasks=("asr",)), asr_vocab_size=13), micro_loss())
    stage2 = build_model(micro_config(), micro_loss())
    with pytest.raises(ValueError, match="heads.asr"):
        stage2.init_from(stage1.state_dict())
    report = stage2.init_from(stage1.state_dict(), skip_mismatch=True)
    assert report["skipped"] and all(n.startswith("heads.asr.") for n in report["skipped"])


def test_cr_ctc_views_share_the_time_warp_and_differ_in_masks(monkeypatch):
    torch.manual_seed(4)
    x = torch.randn(3, 200, 80) + 5.0
    lens = torch.tensor([200, 180, 150])
    warped_seen = []
    real_warp = augment.warp_time

    def recording_warp(*args, **kwargs):
        warped_seen.append(real_warp(*args, **kwargs))
        return warped_seen[-1]

    monkeypatch.setattr(augment, "warp_time", recording_warp)
    spec = augment.cr_ctc_spec_augment(SpecAugmentConfig(), 2.5)
    spec.p = 1.0
    views = augment.make_views(x, lens, spec)
    (warped,) = warped_seen
    assert not torch.equal(warped, x)
    view_a, view_b = views.chunk(2)
    assert not torch.equal(view_a, view_b)
    unmasked_a, unmasked_b = view_a == warped, view_b == warped
    both = unmasked_a & unmasked_b
    assert both.float().mean() > 0.2
    assert torch.equal(view_a[both], view_b[both])
    assert (~unmasked_a).any() and (~unmasked_b).any() and not torch.equal(unmasked_a, unmasked_b)


def test_eval_with_cr_ctc_equals_two_identical_views_and_one_view():
    """Validation skips the duplication: its terms equal those of two unmasked copies (halved) and of CR-CTC off."""
    torch.manual_seed(5)
    model = build_model(micro_config(), micro_loss())
    model.eval()
    batch = random_batch()
    assert not model.uses_two_views()
    with torch.no_grad():
        out = model(*batch)
        features, feature_lens, tokens = batch
        doubled = model(features.repeat(2, 1, 1), feature_lens.repeat(2), {t: v * 2 for t, v in tokens.items()})
        model.loss_cfg = dataclasses.replace(model.loss_cfg, use_cr_ctc=False)
        off = model(*batch)
    for key in ("asr_simple", "asr_pruned", "asr_ctc", "st_simple", "st_pruned", "st_ctc", "loss"):
        assert float(out[key]) == pytest.approx(float(off[key]), rel=1e-6), key
        assert float(out[key]) == pytest.approx(0.5 * float(doubled[key]), rel=1e-4), key
    assert float(out["asr_cr"]) == 0.0 and float(out["asr_ctc"]) > 0
    model.train()
    assert not model.uses_two_views()  # CR-CTC off
    model.loss_cfg = dataclasses.replace(model.loss_cfg, use_cr_ctc=True)
    assert model.uses_two_views()


def test_loss_scales_warm_up():
    model = build_model(micro_config(), micro_loss(warm_step=100))
    assert model.loss_scales() == pytest.approx((1.0, 0.1))
    model.train_step = 50
    assert model.loss_scales() == pytest.approx((0.75, 0.55))
    set_batch_count(model, 1000)  # the Zipformer schedules' count does not move the warm-up
    assert model.loss_scales() == pytest.approx((0.75, 0.55))
    model.train_step = 1000
    assert model.loss_scales() == pytest.approx((0.5, 1.0))


def test_st_encoder_can_tap_an_earlier_stack():
    torch.manual_seed(6)
    cfg = dataclasses.replace(micro_config(), st_tap_stack=0, st_encoder=micro_encoder(1, 1))
    model = build_model(cfg, micro_loss())
    model.eval()
    features, feature_lens, _ = random_batch()
    with torch.no_grad():
        emb, emb_lens = model.encoder_embed(features, feature_lens)
        _, _, first_stack, _ = model.encoder(emb, emb_lens, return_stack=0)
        expected, _ = model.st_encoder(first_stack, emb_lens)
        got = model.encode(features, feature_lens)["st"].out
    assert torch.equal(got, expected)


def test_forward_names_missing_or_short_token_lists():
    model = build_model(micro_config(), micro_loss())
    features, feature_lens, tokens = random_batch()
    with pytest.raises(ValueError, match=r"missing \['st'\]"):
        model(features, feature_lens, {"asr": tokens["asr"]})
    with pytest.raises(ValueError, match=r"wrong length \['asr'\]"):
        model(features, feature_lens, {"asr": tokens["asr"][:2], "st": tokens["st"]})


def test_length_filter():
    model = build_model(micro_config(), micro_loss())
    frames = model.output_frames(207)  # embed (207 - 7) // 2 = 100 → ASR 50 (ds 2), ST 100 (ds 1)
    assert frames == {"asr": 50, "st": 100}
    assert model.check_lengths(207, {"asr": 50, "st": 100}) is None
    assert "asr" in model.check_lengths(207, {"asr": 51, "st": 3})
    assert "too short" in model.check_lengths(8, {"asr": 0, "st": 0})


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(asr_vocab_size=1), "asr_vocab_size"),
        (dict(st_vocab_size=0), "st_vocab_size"),
        (dict(encoder_type="stacked"), "encoder_type"),
        (dict(tasks=("asr", "mt")), "tasks"),
        (dict(st_encoder=dataclasses.replace(micro_encoder(1, 1), encoder_dim=(62,))), "model.st_encoder"),
        (dict(st_tap_stack=2), "model.st_tap_stack"),
        (dict(st_tap_stack=-3), "model.st_tap_stack"),
        (dict(asr_encoder=dataclasses.replace(micro_encoder(2, 2), encoder_dim=(64, 64, 64))), "model.asr_encoder"),
    ],
)
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        build_model(dataclasses.replace(micro_config(), **change), micro_loss())
