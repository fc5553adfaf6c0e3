"""Tests for hent_srt.model.scaling: each component against an independent formula or invariant."""

import math

import pytest
import torch
from torch import nn

from hent_srt.model.scaling import (
    ActivationDropoutAndLinear,
    Balancer,
    BiasNorm,
    ChunkCausalDepthwiseConv1d,
    Dropout3,
    ScaledLinear,
    ScheduledFloat,
    SwooshL,
    SwooshR,
    Whiten,
    convert_num_channels,
    depthwise_conv1d,
    limit_param_value,
    penalize_abs_values_gt,
    set_batch_count,
    set_whiten_probs,
    whiten_probs,
    whitening_metric,
)


def _swoosh_l_formula(x):
    return torch.log(1 + torch.exp(x - 4)) - 0.08 * x - 0.035


def _swoosh_r_formula(x):
    return torch.log(1 + torch.exp(x - 1)) - 0.08 * x - 0.313261687


def test_scheduled_float_piecewise_linear_and_default():
    sf = ScheduledFloat((0.0, 0.3), (100.0, 0.1), (200.0, 0.0), default=0.7)
    assert float(sf) == 0.7  # no batch count yet
    for count, expected in [(-5, 0.3), (0, 0.3), (50, 0.2), (100, 0.1), (150, 0.05), (1000, 0.0)]:
        sf.batch_count = count
        assert float(sf) == pytest.approx(expected)
    sf.eval()
    assert float(sf) == 0.7


def test_scheduled_float_rejects_unsorted_points():
    with pytest.raises(ValueError, match="increase"):
        ScheduledFloat((10.0, 1.0), (5.0, 0.0))


def test_set_batch_count_reaches_nested_modules():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.rate = ScheduledFloat((0.0, 1.0), (10.0, 0.0))
            self.inner = nn.Sequential(nn.Linear(2, 2), Balancer(2, channel_dim=-1))

    m = Holder()
    set_batch_count(m, 5)
    assert float(m.rate) == pytest.approx(0.5)
    assert m.inner[1].prob.batch_count == 5
    with pytest.raises(ValueError, match="batch_count"):
        set_batch_count(m, -1)


@pytest.mark.parametrize("module,formula", [(SwooshL(), _swoosh_l_formula), (SwooshR(), _swoosh_r_formula)])
def test_swoosh_values_and_custom_backward(module, formula):
    x = (torch.randn(50, dtype=torch.float64) * 4).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    y = module(x)
    y_ref = formula(x_ref)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)
    # Published constants: SwooshR(0) ~ 0 and SwooshL(4) = log 2 - 0.355.
    assert abs(_swoosh_r_formula(torch.tensor(0.0, dtype=torch.float64)).item()) < 1e-6
    assert SwooshL()(torch.tensor(4.0)).item() == pytest.approx(math.log(2) - 0.32 - 0.035, abs=1e-6)


@pytest.mark.parametrize("activation", ["SwooshL", "SwooshR"])
def test_activation_dropout_and_linear_matches_composition(activation):
    torch.manual_seed(0)
    m = ActivationDropoutAndLinear(6, 5, activation=activation, dropout_p=0.0, initial_scale=0.5)
    act = SwooshL() if activation == "SwooshL" else SwooshR()
    x = torch.randn(4, 3, 6, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    w = m.weight.detach().clone().requires_grad_(True)
    b = m.bias.detach().clone().requires_grad_(True)
    y = m(x)
    y_ref = nn.functional.linear(act(x2), w, b)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(m.weight.grad, w.grad)
    torch.testing.assert_close(m.bias.grad, b.grad)


def test_activation_dropout_mask_is_shared_over_time():
    torch.manual_seed(0)
    m = ActivationDropoutAndLinear(8, 8, dropout_p=0.5, dropout_shared_dim=0)
    with torch.no_grad():
        m.weight.copy_(torch.eye(8))
        m.bias.zero_()
    m.train()
    x = torch.full((10, 3, 8), 2.0)
    y = m(x)
    kept = y != 0
    assert torch.equal(kept, kept[0:1].expand_as(kept))  # same channels dropped at every frame
    assert kept.any() and not kept.all()


def test_bias_norm_formula():
    torch.manual_seed(0)
    m = BiasNorm(5, channel_dim=1)
    with torch.no_grad():
        m.bias.copy_(torch.randn(5))
        m.log_scale.fill_(0.3)
    m.eval()
    x = torch.randn(2, 5, 7)
    expected = torch.empty_like(x)
    for b in range(2):
        for t in range(7):
            v = x[b, :, t]
            scale = ((v - m.bias) ** 2).mean() ** -0.5 * math.exp(0.3)
            expected[b, :, t] = v * scale
    torch.testing.assert_close(m(x), expected)
    with pytest.raises(ValueError, match="num_channels"):
        m(torch.randn(2, 4, 7))


def test_scaled_linear_scales_init():
    torch.manual_seed(0)
    ref = nn.Linear(4, 3)
    torch.manual_seed(0)
    scaled = ScaledLinear(4, 3, initial_scale=0.25)
    torch.testing.assert_close(scaled.weight, ref.weight * 0.25)
    assert scaled.bias.abs().max() <= 0.025


def test_balancer_forward_identity_and_corrective_gradient():
    torch.manual_seed(0)
    # channel 0: mostly within limits; channel 1: far too large (|x| ~ 20 > max_abs=4).
    x = torch.randn(200, 2)
    x[:, 1] *= 20.0
    x.requires_grad_(True)
    m = Balancer(2, channel_dim=-1, min_positive=0.0, max_positive=1.0, min_abs=0.0, max_abs=4.0, prob=1.0)
    m.train()
    y = m(x)
    assert torch.equal(y, x)
    g = torch.randn(200, 2) * 0.01
    y.backward(g)
    delta = x.grad - g
    assert torch.all(delta[:, 0] == 0)  # constraints hold: gradient untouched
    # gradient descent must shrink the too-large channel: extra gradient has the sign of x.
    assert (delta[:, 1] * x[:, 1].detach().sign()).min() >= 0
    assert delta[:, 1].abs().sum() > 0


def test_whitening_metric_known_values():
    eye = torch.eye(6)
    white = torch.cat((eye, -eye), dim=0)  # centred, covariance 2I
    assert whitening_metric(white, 1).item() == pytest.approx(1.0, rel=1e-5)
    rank1 = torch.randn(100, 1) * torch.randn(1, 6)
    assert whitening_metric(rank1, 1).item() == pytest.approx(6.0, rel=1e-4)


def test_whiten_forward_identity_gradient_only_when_over_limit():
    torch.manual_seed(0)
    m = Whiten(num_groups=1, whitening_limit=2.0, prob=1.0, grad_scale=0.1)
    white = torch.cat((torch.eye(8), -torch.eye(8)), dim=0).requires_grad_(True)
    y = m(white)
    assert torch.equal(y, white)
    g = torch.randn(16, 8)
    y.backward(g)
    torch.testing.assert_close(white.grad, g)
    correlated = (torch.randn(64, 1) * torch.randn(1, 8) + 0.01 * torch.randn(64, 8)).requires_grad_(True)
    y = m(correlated)
    assert torch.equal(y, correlated)
    g = torch.randn(64, 8)
    y.backward(g)
    assert not torch.allclose(correlated.grad, g)


def test_whiten_probability_follows_its_checks_and_round_trips():
    torch.manual_seed(0)
    def two_whitens() -> nn.Sequential:
        return nn.Sequential(*(Whiten(1, 2.0, prob=(0.1, 1.0), grad_scale=0.1) for _ in range(2)))

    model = two_whitens()
    assert whiten_probs(model) == {"0": 1.0, "1": 1.0}  # a fresh module checks with max_prob
    white = torch.cat((torch.eye(8), -torch.eye(8)), dim=0).requires_grad_(True)
    model[0](white).sum().backward()  # a check that passes drops the module to min_prob
    assert whiten_probs(model) == {"0": 0.1, "1": 1.0}
    other = two_whitens()
    set_whiten_probs(other, whiten_probs(model))
    assert whiten_probs(other) == whiten_probs(model)
    with pytest.raises(ValueError, match="no Whiten module named"):
        set_whiten_probs(other, {"2": 0.1})
    with pytest.raises(ValueError, match=r"outside \[0.1, 1.0\]"):
        set_whiten_probs(other, {"0": 0.05})


def test_limit_param_value_flips_outward_gradients():
    x = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    y = limit_param_value(x, min=0.0, max=1.0, prob=1.0)
    y.backward(torch.tensor([1.0, 1.0, -1.0]))
    # x[0] < min with positive grad (descent would lower it) -> flipped; x[2] > max with negative grad -> flipped.
    assert x.grad.tolist() == [-1.0, 1.0, 1.0]


def test_penalize_abs_values_gt_adds_sign_gradient():
    x = torch.tensor([-30.0, 5.0, 40.0], requires_grad=True)
    y = penalize_abs_values_gt(x, limit=25.0, penalty=0.5)
    assert torch.equal(y, x)
    y.sum().backward()
    assert x.grad.tolist() == [1.0 - 0.5, 1.0, 1.0 + 0.5]


def test_dropout3_shares_mask_and_rescales():
    torch.manual_seed(0)
    m = Dropout3(0.5, shared_dim=1)
    m.train()
    y = m(torch.ones(3, 50, 4))
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(y, y[:, 0:1].expand_as(y))
    m.eval()
    assert torch.equal(m(torch.ones(2, 2)), torch.ones(2, 2))


def test_convert_num_channels():
    x = torch.randn(2, 3, 4)
    assert torch.equal(convert_num_channels(x, 2), x[..., :2])
    y = convert_num_channels(x, 6)
    assert torch.equal(y[..., :4], x) and torch.all(y[..., 4:] == 0)


def test_chunk_causal_conv_is_chunk_causal_and_streams():
    torch.manual_seed(0)
    conv = ChunkCausalDepthwiseConv1d(channels=3, kernel_size=7)
    with torch.no_grad():
        conv.chunkwise_conv_scale.normal_(std=0.1)
    x = torch.randn(2, 3, 24)
    y = conv(x, chunk_size=8)
    x2 = x.clone()
    x2[..., 16:] = torch.randn(2, 3, 8)
    torch.testing.assert_close(conv(x2, chunk_size=8)[..., :16], y[..., :16])
    cache = torch.zeros(2, 3, 3)
    pieces = []
    for start in range(0, 24, 8):
        out, cache = conv.streaming_forward(x[..., start : start + 8], cache)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=-1), y, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        ChunkCausalDepthwiseConv1d(3, 4)


@pytest.mark.parametrize("seq_len", [1, 5, 11])
def test_chunk_causal_conv_pads_a_short_sequence_to_one_chunk_like_streaming(seq_len):
    """A sequence shorter than the chunk is convolved as one zero-padded chunk: the same values as one streaming
    step on the zero-padded chunk (the learned edge scales, nonzero here, are those of the full chunk)."""
    torch.manual_seed(1)
    conv = ChunkCausalDepthwiseConv1d(channels=3, kernel_size=5)
    with torch.no_grad():
        conv.chunkwise_conv_scale.normal_(std=0.5)
    x = torch.randn(2, 3, seq_len)
    padded = torch.nn.functional.pad(x, (0, 12 - seq_len))
    expected, _ = conv.streaming_forward(padded, torch.zeros(2, 3, 2))
    torch.testing.assert_close(conv(x, chunk_size=12), expected[..., :seq_len], atol=1e-6, rtol=1e-5)


def test_depthwise_conv1d_equals_conv1d_values_and_gradients():
    torch.manual_seed(0)
    conv = nn.Conv1d(4, 4, kernel_size=5, padding=2, groups=4)
    x = torch.randn(3, 4, 11, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y = depthwise_conv1d(x, conv, padding=2)
    y.sum().backward()
    w_grad = conv.weight.grad.clone()
    conv.weight.grad = None
    y_ref = conv(x2)
    y_ref.sum().backward()
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(w_grad, conv.weight.grad)
