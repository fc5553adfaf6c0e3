"""Tests for hent_srt.model.zipformer: published parameter counts, shapes, padding and causality
invariants, streaming == chunked forward, gradients, schedules and validation (tiny configs)."""

import random

import pytest
import torch

from hent_srt.model.scaling import ScheduledFloat, set_batch_count
from hent_srt.model.subsampling import Conv2dSubsampling
from hent_srt.model.zipformer import (
    CompactRelPositionalEncoding,
    RelPositionMultiheadAttentionWeights,
    Zipformer2,
)

ASR = {
    "input_dim": 192, "output_downsampling_factor": 2, "downsampling_factor": (1, 2, 4, 8, 4),
    "encoder_dim": (192, 256, 384, 512, 384), "num_encoder_layers": 2, "encoder_unmasked_dim": (192, 192, 256, 256, 256),
    "feedforward_dim": (512, 768, 1024, 1024, 1024), "num_heads": (4, 4, 4, 8, 8), "cnn_module_kernel": (31, 31, 15, 15, 15),
    "query_head_dim": 32, "value_head_dim": 12, "pos_head_dim": 4, "pos_dim": 48,
}
ST = {
    "input_dim": 384, "output_downsampling_factor": 1, "downsampling_factor": (1, 2, 4, 4, 4),
    "encoder_dim": (384, 512, 256, 256, 256), "num_encoder_layers": 2, "encoder_unmasked_dim": (256, 256, 256, 256, 192),
    "feedforward_dim": (512, 512, 256, 256, 256), "num_heads": 8, "cnn_module_kernel": (15, 31, 31, 15, 15),
    "query_head_dim": 32, "value_head_dim": 12, "pos_head_dim": 4, "pos_dim": 48,
}
NT_SHARED = {
    "input_dim": 192, "output_downsampling_factor": 2, "downsampling_factor": (1, 2, 4, 8, 8, 4, 4, 2),
    "encoder_dim": (192, 256, 384, 512, 384, 384, 384, 256), "num_encoder_layers": 2,
    "encoder_unmasked_dim": (192, 192, 256, 256, 256, 256, 256, 192), "num_heads": (4, 4, 4, 8, 8, 8, 4, 4),
    "feedforward_dim": (512, 768, 1024, 1024, 1024, 1024, 1024, 768), "cnn_module_kernel": (31, 31, 15, 15, 15, 15, 31, 31),
    "query_head_dim": 32, "value_head_dim": 12, "pos_head_dim": 4, "pos_dim": 48,
}


def tiny(causal=False, output_downsampling_factor=2, **overrides):
    config = {
        "input_dim": 16, "output_downsampling_factor": output_downsampling_factor, "downsampling_factor": (1, 2, 4),
        "encoder_dim": (16, 24, 20), "num_encoder_layers": (1, 2, 1), "encoder_unmasked_dim": (12, 16, 12),
        "feedforward_dim": (32, 48, 32), "num_heads": 2, "query_head_dim": 8, "value_head_dim": 4, "pos_head_dim": 2,
        "cnn_module_kernel": (7, 5, 3), "pos_dim": 8, "causal": causal,
    }
    if causal:
        config.update(chunk_size=(8, 16, -1), left_context_frames=(16, 32, -1))
    config.update(overrides)
    return Zipformer2(**config)


@pytest.mark.parametrize("config,expected", [(ASR, 33_818_782), (ST, 22_115_609), (NT_SHARED, 53_580_850)],
                         ids=["asr", "st", "nt_shared"])
def test_published_parameter_counts(config, expected):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = Zipformer2(**config)
        default = Zipformer2()
    assert sum(p.numel() for p in model.parameters()) == expected
    assert sum(p.numel() for p in default.parameters()) == 33_818_782  # defaults = published ASR encoder


@pytest.mark.parametrize("ods", [1, 2])
def test_output_shapes_and_lengths(ods):
    torch.manual_seed(0)
    model = tiny(output_downsampling_factor=ods).eval()
    x = torch.randn(3, 21, 16)
    lens = torch.tensor([21, 14, 5])
    with torch.no_grad():
        out, out_lens, last, last_lens = model(x, lens, return_stack=-1)
    expected_t = 21 if ods == 1 else 11
    assert out.shape == (3, expected_t, 24)  # max(encoder_dim)
    expected_lens = lens if ods == 1 else (lens + 1) // 2
    assert out_lens.tolist() == expected_lens.tolist()
    assert last.shape == (3, 21, 20) and last_lens.tolist() == lens.tolist()
    with torch.no_grad():
        _, _, first, _ = model(x, lens, return_stack=0)
    assert first.shape == (3, 21, model.encoder_dim[0])
    with pytest.raises(ValueError, match="return_stack"):
        model(x, lens, return_stack=len(model.encoder_dim))
    # Full-dim output: last stack channels first, then channels 20..24 from the 24-wide stack.
    if ods == 1:
        torch.testing.assert_close(out[..., :20], last)
    # icefall's output-downsampling weights exist even when unused; they are frozen then.
    assert model.downsample_output.bias.requires_grad == (ods == 2)


def test_full_dim_output_takes_missing_channels_from_latest_wider_stack():
    model = tiny()
    outs = [torch.full((2, 1, d), float(i)) for i, d in enumerate(model.encoder_dim)]
    full = model._full_dim_output(outs)
    assert full.shape[-1] == 24
    assert torch.all(full[..., :20] == 2) and torch.all(full[..., 20:] == 1)


def test_padding_invariance_in_eval():
    torch.manual_seed(0)
    model = tiny().eval()
    x = torch.randn(3, 23, 16)
    lens = torch.tensor([23, 13, 6])
    with torch.no_grad():
        out, out_lens = model(x, lens)
        for b in (1, 2):
            alone, alone_lens = model(x[b : b + 1, : lens[b]], lens[b : b + 1])
            assert alone_lens.item() == out_lens[b].item()
            torch.testing.assert_close(out[b, : out_lens[b]], alone[0], atol=1e-5, rtol=1e-4)


def test_causal_future_frames_do_not_change_earlier_outputs():
    torch.manual_seed(0)
    model = tiny(causal=True).eval()
    x = torch.randn(2, 48, 16)
    lens = torch.tensor([48, 48])
    x2 = x.clone()
    x2[:, 24:] = torch.randn(2, 24, 16)  # chunk 8: frames from the 4th chunk on change
    with torch.no_grad():
        y1, _ = model(x, lens, chunk_size=8, left_context_frames=16)
        y2, _ = model(x2, lens, chunk_size=8, left_context_frames=16)
    torch.testing.assert_close(y1[:, :12], y2[:, :12])
    assert (y1[:, 12:] - y2[:, 12:]).abs().max() > 1e-3


def test_streaming_equals_chunked_forward():
    torch.manual_seed(0)
    model = tiny(causal=True).eval()
    chunk, left, num_chunks = 8, 16, 6
    x = torch.randn(2, chunk * num_chunks, 16)
    lens = torch.tensor([x.shape[1]] * 2)
    with torch.no_grad():
        full, _, _last, _ = model(x, lens, chunk_size=chunk, left_context_frames=left, return_stack=-1)
        states = model.init_states(batch_size=2, left_context_frames=left)
        pieces = []
        for k in range(num_chunks):
            out, out_lens, states = model.streaming_forward(
                x[:, k * chunk : (k + 1) * chunk], torch.tensor([chunk, chunk]), states
            )
            assert out_lens.tolist() == [chunk // 2] * 2
            pieces.append(out)
    streamed = torch.cat(pieces, dim=1)
    assert streamed.shape == full.shape
    assert (streamed - full).abs().max().item() < 1e-4
    assert states[-1].tolist() == [chunk * num_chunks] * 2
    # Unlimited left context differs once the stream is longer than the left context.
    with torch.no_grad():
        unlimited, _ = model(x, lens, chunk_size=chunk, left_context_frames=-1)
    assert (unlimited[:, -4:] - full[:, -4:]).abs().max() > 1e-4


def test_streaming_front_end_and_encoder_equal_offline_causal_pipeline():
    torch.manual_seed(0)
    front = Conv2dSubsampling(20, 16, layer1_channels=2, layer2_channels=4, layer3_channels=8).eval()
    model = tiny(causal=True).eval()
    chunk, num_chunks = 8, 4
    num_feats = 2 * chunk * (num_chunks - 1) + 2 * chunk + 13  # the last piece's end
    feats = torch.randn(1, num_feats, 20)
    with torch.no_grad():
        emb, emb_lens = front(feats, torch.tensor([num_feats]))
        offline, _ = model(emb, emb_lens, chunk_size=chunk, left_context_frames=16)
        cache, states = front.get_init_states(1), model.init_states(1, left_context_frames=16)
        pieces = []
        for k in range(num_chunks):
            piece = feats[:, 2 * chunk * k : 2 * chunk * k + 2 * chunk + 13]
            emb_k, emb_k_lens, cache = front.streaming_forward(piece, torch.tensor([piece.shape[1]]), cache)
            out, _, states = model.streaming_forward(emb_k, emb_k_lens, states)
            pieces.append(out)
    streamed = torch.cat(pieces, dim=1)
    assert (streamed - offline[:, : streamed.shape[1]]).abs().max().item() < 1e-4


def test_every_trainable_parameter_gets_a_gradient():
    torch.manual_seed(0)
    random.seed(0)
    model = tiny(causal=True).train()
    set_batch_count(model, 100_000)  # skip rates near their final (small) values
    x = torch.randn(4, 32, 16)
    out, _out_lens = model(x, torch.tensor([32, 30, 20, 32]), chunk_size=8, left_context_frames=16)
    (out**2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert missing == []
    # The only frozen parameters are icefall's unused ones, kept for parameter counts / checkpoints.
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.endswith(("layers.0.bypass_scale", "layers.1.bypass_scale")) for n in frozen)


def test_training_schedules_follow_batch_count():
    model = tiny().train()
    layer = model.encoders[0].layers[0]
    set_batch_count(model, 0)
    assert float(layer.attention_skip_rate) == pytest.approx(0.2)
    assert float(layer.bypass.scale_min) == pytest.approx(0.9)
    set_batch_count(model, 10_000)
    assert float(layer.bypass.scale_min) == pytest.approx(0.9 - 0.7 * 0.5)
    assert float(layer.attention_skip_rate) == pytest.approx(0.05 - 0.05 * 6000 / 12000)
    set_batch_count(model, 100_000)
    assert float(layer.bypass.skip_rate) == pytest.approx(0.035)  # final layer-drop rate, ds=1
    assert float(model.encoders[2].encoder.layers[0].bypass.skip_rate) == pytest.approx(0.07)  # ds=4
    model.eval()
    scheduled = [m for m in model.modules() if isinstance(m, ScheduledFloat)]
    assert scheduled and all(float(m) == m.default for m in scheduled)


def test_feature_masks_only_touch_channels_above_unmasked_dim():
    torch.manual_seed(0)
    model = tiny().train()
    masks = model.get_feature_masks(torch.zeros(5, 400, 16))
    for mask, dim, unmasked in zip(masks, model.encoder_dim, model.encoder_unmasked_dim):
        assert mask.shape == (1, 400, dim)
        assert torch.all(mask[..., :unmasked] == 1)
        dropped = (mask[..., unmasked:] == 0).any(dim=-1).float().mean().item()
        assert 0.1 < dropped < 0.4  # about 1 - 0.875^2 of sequences lose their top channels
    model.eval()
    assert model.get_feature_masks(torch.zeros(5, 4, 16)) == [1.0, 1.0, 1.0]


def test_chunk_info_sampled_in_training_fixed_in_eval():
    random.seed(0)
    model = tiny(causal=True)
    model.train()
    sampled = {model.get_chunk_info() for _ in range(60)}
    assert len(sampled) > 2
    assert all(c in (8, 16, -1) for c, _ in sampled)
    model.eval()
    assert {model.get_chunk_info() for _ in range(20)} == {(8, 2)}
    assert model.get_chunk_info(16, 64) == (16, 4)
    assert model.get_chunk_info(8, 4) == (8, 1)  # at least one left chunk
    assert tiny().get_chunk_info() == (-1, -1)
    with torch.device("meta"):
        published = Zipformer2(**{**ASR, "causal": True})
    assert published.chunk_size == (16, 32, 64, -1) and published.left_context_frames == (64, 128, 256, -1)


def test_chunk_attention_mask_brute_force():
    mask = Zipformer2.chunk_attention_mask(10, chunk_size=3, left_context_chunks=1)
    for i in range(10):
        for j in range(10):
            allowed = j // 3 <= i // 3 and j // 3 >= i // 3 - 1
            assert mask[i, j].item() == (not allowed)


def test_relative_attention_scores_brute_force():
    torch.manual_seed(0)
    attn = RelPositionMultiheadAttentionWeights(12, pos_dim=8, num_heads=2, query_head_dim=4, pos_head_dim=2).eval()
    pos = CompactRelPositionalEncoding(8, dropout_rate=0.0).eval()
    x = torch.randn(5, 1, 12)
    with torch.no_grad():
        weights = attn(x, pos(x))
        proj = attn.in_proj(x)[:, 0]
        q, k, p = proj[:, :8].reshape(5, 2, 4), proj[:, 8:16].reshape(5, 2, 4), proj[:, 16:].reshape(5, 2, 2)
        pe = attn.linear_pos(pos.embedding(torch.arange(-4, 5))).reshape(9, 2, 2)
        scores = torch.empty(2, 5, 5)
        for h in range(2):
            for i in range(5):
                for j in range(5):
                    scores[h, i, j] = q[i, h] @ k[j, h] + p[i, h] @ pe[(j - i) + 4, h]
    torch.testing.assert_close(weights[:, 0], scores.softmax(dim=-1))


def test_positional_encoding_is_finite_and_has_bias_column():
    pos = CompactRelPositionalEncoding(8, dropout_rate=0.0).eval()
    emb = pos(torch.zeros(6, 1, 3), left_context_len=4)
    assert emb.shape == (1, 4 + 2 * 6 - 1, 8)
    assert torch.all(emb[..., -1] == 1.0)
    torch.testing.assert_close(pos.embedding(torch.tensor([0]))[0, 0:6:2], torch.ones(3))


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"encoder_dim": (16, 24)}, "encoder_dim"),
        ({"num_heads": (2, 2)}, "num_heads"),
        ({"encoder_unmasked_dim": (12, 30, 12)}, "encoder_unmasked_dim"),
        ({"cnn_module_kernel": 4}, "cnn_module_kernel"),
        ({"encoder_dim": (18, 24, 20)}, "encoder_dim"),
        ({"pos_dim": 7}, "pos_dim"),
        ({"output_downsampling_factor": 3}, "output_downsampling_factor"),
        ({"chunk_size": (8,)}, "causal"),
        ({"causal": True, "chunk_size": (6,), "left_context_frames": (16,)}, "divisible"),
        ({"causal": True, "chunk_size": (8,), "left_context_frames": (0,), "cnn_module_kernel": (31, 5, 3)}, "left_context"),
        ({"downsampling_factor": (1, 0, 2)}, "downsampling_factor"),
    ],
)
def test_config_validation(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny(**overrides)


def test_input_validation_and_streaming_preconditions():
    model = tiny().eval()
    with pytest.raises(ValueError, match="input_dim"):
        model(torch.randn(2, 10, 15), torch.tensor([10, 10]))
    with pytest.raises(ValueError, match="x_lens"):
        model(torch.randn(2, 10, 16), torch.tensor([10]))
    with pytest.raises(ValueError, match="causal"):
        model.init_states(1)
    causal = tiny(causal=True)
    with pytest.raises(ValueError, match="eval"):
        causal.streaming_forward(torch.randn(1, 8, 16), torch.tensor([8]), causal.init_states(1))
    causal.eval()
    with pytest.raises(ValueError, match="divisible"):
        causal.streaming_forward(torch.randn(1, 6, 16), torch.tensor([6]), causal.init_states(1))
