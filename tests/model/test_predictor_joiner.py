"""Tests for the stateless / LSTM predictors and the joiner."""

import pytest
import torch

from hent_srt.model.joiner import Joiner
from hent_srt.model.predictor import LstmPredictor, StatelessPredictor


def _num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _window(y: torch.Tensor, u: int, context_size: int) -> torch.Tensor:
    """The step input for position u: y[:, u-c+1 : u+1], left-filled with -1 ("no token")."""
    padded = torch.cat([torch.full((y.size(0), context_size - 1), -1, dtype=y.dtype), y], dim=1)
    return padded[:, u : u + context_size]


def _make(kind: str, vocab_size: int, dim: int, context_size: int) -> torch.nn.Module:
    if kind == "stateless":
        return StatelessPredictor(vocab_size, dim, blank_id=0, context_size=context_size).eval()
    return LstmPredictor(vocab_size, dim, blank_id=0, context_size=context_size, hidden_dim=12).eval()


def test_published_parameter_counts():
    predictor = StatelessPredictor(5000, 256, blank_id=0, context_size=2)
    assert _num_params(predictor.embedding) == 1_280_000
    assert _num_params(predictor.conv) == 2_048
    assert _num_params(predictor) == 1_282_048
    joiner = Joiner(512, 256, 256, 5000)
    assert _num_params(joiner.encoder_proj) == 131_328
    assert _num_params(joiner.decoder_proj) == 65_792
    assert _num_params(joiner.output_linear) == 1_285_000
    assert _num_params(joiner) == 131_328 + 65_792 + 1_285_000


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
@pytest.mark.parametrize("context_size", [1, 2, 3])
def test_shapes_and_step_equals_training_forward(kind, context_size):
    torch.manual_seed(0)
    predictor = _make(kind, vocab_size=7, dim=8, context_size=context_size)
    y = torch.randint(0, 7, (3, 5))
    with torch.no_grad():
        full = predictor(y)
        assert full.shape == (3, 5, 8)
        for u in range(5):
            step = predictor(_window(y, u, context_size), need_pad=False)
            assert step.shape == (3, 1, 8)
            torch.testing.assert_close(step[:, 0], full[:, u], rtol=1e-5, atol=1e-6)


def test_stateless_matches_grouped_convolution_by_hand():
    torch.manual_seed(1)
    predictor = _make("stateless", vocab_size=6, dim=8, context_size=3)
    y = torch.randint(0, 6, (2, 4))
    emb = predictor.embedding.weight.detach()
    weight = predictor.conv.weight.detach()  # (D, D/groups = 4, c)
    with torch.no_grad():
        out = predictor(y)
    for n in range(2):
        for u in range(4):
            for o in range(8):
                group = o // 4
                total = 0.0
                for k in range(3):
                    pos = u - 2 + k
                    if pos < 0:  # left padding: zero embedding
                        continue
                    for i in range(4):
                        total += float(weight[o, i, k]) * float(emb[y[n, pos], group * 4 + i])
                assert abs(float(out[n, u, o]) - max(total, 0.0)) < 1e-5


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
def test_outputs_depend_only_on_their_context_window(kind):
    torch.manual_seed(2)
    predictor = _make(kind, vocab_size=9, dim=8, context_size=2)
    y = torch.randint(1, 9, (2, 6))
    changed = y.clone()
    changed[:, 2] = (changed[:, 2] % 8) + 1  # a different non-blank token
    with torch.no_grad():
        a, b = predictor(y), predictor(changed)
    differs = (a - b).abs().amax(dim=(0, 2)) > 1e-6
    assert differs.tolist() == [False, False, True, True, False, False]


def test_need_pad_start_context_and_no_token_ids():
    torch.manual_seed(3)
    predictor = _make("stateless", vocab_size=5, dim=8, context_size=2)
    with torch.no_grad():
        # Training input [blank, y1, ...]: position 0 sees ("no token", blank), the search's start context.
        sos_y = torch.tensor([[0, 3, 1]])
        start = predictor(torch.tensor([[-1, 0]]), need_pad=False)
        torch.testing.assert_close(predictor(sos_y)[:, 0], start[:, 0])
        # A context made only of "no token" ids has zero embeddings, hence zero output after the ReLU.
        assert torch.equal(predictor(torch.tensor([[-1, -1]]), need_pad=False), torch.zeros(1, 1, 8))
        # Without padding, a whole sequence is rejected (the step API needs exactly context_size tokens).
        with pytest.raises(ValueError, match="context_size"):
            predictor(sos_y, need_pad=False)


@pytest.mark.parametrize(
    "y, match",
    [
        (torch.tensor([[0.0, 1.0]]), "integer"),
        (torch.tensor([0, 1]), "2-D"),
        (torch.tensor([[0, 5]]), "vocab_size"),
    ],
)
def test_predictor_rejects_bad_tokens(y, match):
    predictor = StatelessPredictor(5, 8)
    with pytest.raises(ValueError, match=match):
        predictor(y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocab_size": 1}, "vocab_size"),
        ({"vocab_size": 5, "blank_id": 5}, "blank_id"),
        ({"vocab_size": 5, "context_size": 0}, "context_size"),
        ({"vocab_size": 5, "decoder_dim": 6}, "decoder_dim"),
    ],
)
def test_predictor_rejects_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StatelessPredictor(**kwargs)


def test_joiner_formula_broadcast_and_projected_path():
    torch.manual_seed(4)
    joiner = Joiner(encoder_dim=6, decoder_dim=5, joiner_dim=4, vocab_size=7)
    enc = torch.randn(2, 3, 1, 6)
    dec = torch.randn(2, 1, 4, 5)
    with torch.no_grad():
        logits = joiner(enc, dec)
        assert logits.shape == (2, 3, 4, 7)
        e = enc @ joiner.encoder_proj.weight.T + joiner.encoder_proj.bias
        d = dec @ joiner.decoder_proj.weight.T + joiner.decoder_proj.bias
        expected = torch.tanh(e + d) @ joiner.output_linear.weight.T + joiner.output_linear.bias
        torch.testing.assert_close(logits, expected)
        projected = joiner(joiner.encoder_proj(enc), joiner.decoder_proj(dec), project_input=False)
        torch.testing.assert_close(projected, logits)
    with pytest.raises(ValueError, match="same number of dimensions"):
        joiner(enc[:, :, 0], dec)


def test_joiner_projections_start_at_quarter_scale():
    torch.manual_seed(5)
    joiner = Joiner(encoder_dim=400, decoder_dim=256, joiner_dim=256, vocab_size=10)
    for proj, fan_in in ((joiner.encoder_proj, 400), (joiner.decoder_proj, 256)):
        bound = 0.25 / fan_in**0.5  # PyTorch's default bound 1/sqrt(fan_in), scaled by 0.25
        weight_max = float(proj.weight.detach().abs().max())
        assert 0.9 * bound < weight_max <= bound
        bias_max = float(proj.bias.detach().abs().max())
        assert 0.9 * 0.025 < bias_max <= 0.025  # icefall's ScaledLinear: U(-0.1 * 0.25, 0.1 * 0.25)
    full_bound = 1 / 256**0.5
    assert float(joiner.output_linear.weight.detach().abs().max()) > 0.9 * full_bound
