"""Tests for hent_srt.model.subsampling.Conv2dSubsampling."""

import pytest
import torch

from hent_srt.model.subsampling import Conv2dSubsampling


def _tiny(out_channels=16):
    return Conv2dSubsampling(in_channels=20, out_channels=out_channels, layer1_channels=2,
                             layer2_channels=4, layer3_channels=8)


def test_parameter_count_matches_icefall():
    m = Conv2dSubsampling(in_channels=80, out_channels=192)
    assert sum(p.numel() for p in m.parameters()) == 611_953


def test_output_shape_and_lengths():
    torch.manual_seed(0)
    m = _tiny().eval()
    x = torch.randn(3, 40, 20)
    lens = torch.tensor([40, 25, 9])
    y, y_lens = m(x, lens)
    assert y.shape == (3, (40 - 7) // 2, 16)
    assert y_lens.tolist() == [(40 - 7) // 2, (25 - 7) // 2, 1]
    assert y_lens.dtype == torch.int64


def test_padding_invariance_in_eval():
    torch.manual_seed(0)
    m = _tiny().eval()
    x = torch.randn(2, 41, 20)
    lens = torch.tensor([41, 23])
    with torch.no_grad():
        y, y_lens = m(x, lens)
        alone, _ = m(x[1:, :23], lens[1:])
    torch.testing.assert_close(y[1, : y_lens[1]], alone[0], atol=1e-5, rtol=1e-5)


def test_streaming_matches_full_forward_except_last_right_context():
    torch.manual_seed(0)
    m = _tiny().eval()
    chunk = 4
    total_out = 5 * chunk + 3
    num_frames = 2 * total_out + 7
    x = torch.randn(2, num_frames, 20)
    with torch.no_grad():
        full, _ = m(x, torch.tensor([num_frames, num_frames]))
        cache = m.get_init_states(batch_size=2)
        pieces = []
        for k in range(5):
            piece = x[:, 2 * chunk * k : 2 * chunk * k + 2 * chunk + 13]
            out, out_lens, cache = m.streaming_forward(piece, torch.tensor([piece.shape[1]] * 2), cache)
            assert out.shape[1] == chunk and out_lens.tolist() == [chunk, chunk]
            pieces.append(out)
    streamed = torch.cat(pieces, dim=1)
    torch.testing.assert_close(streamed, full[:, : 5 * chunk], atol=1e-5, rtol=1e-5)


def test_input_validation():
    m = _tiny()
    with pytest.raises(ValueError, match="x must be"):
        m(torch.randn(2, 30, 21), torch.tensor([30, 30]))
    with pytest.raises(ValueError, match="x_lens"):
        m(torch.randn(2, 30, 20), torch.tensor([30]))
    with pytest.raises(ValueError, match="in_channels"):
        Conv2dSubsampling(in_channels=5, out_channels=8)
