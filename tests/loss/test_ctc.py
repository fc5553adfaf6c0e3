"""Tests of CTC (against brute-force alignment enumeration) and the CR-CTC consistency term."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from hent_srt.loss import cr_ctc_consistency, ctc_loss


def _collapse(path: tuple[int, ...], blank: int) -> list[int]:
    out, prev = [], None
    for a in path:
        if a != prev and a != blank:
            out.append(a)
        prev = a
    return out


def _brute_ctc(log_probs: torch.Tensor, target: list[int], blank: int) -> float:
    """-log sum over all frame labellings that collapse to target; log_probs (T, V)."""
    T, V = log_probs.shape
    scores = [sum(float(log_probs[t, a]) for t, a in enumerate(path))
              for path in itertools.product(range(V), repeat=T) if _collapse(path, blank) == target]
    return -float(torch.logsumexp(torch.tensor(scores, dtype=torch.float64), 0)) if scores else math.inf


def _log_probs(B=3, T=5, V=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, V, dtype=torch.float64, generator=g).log_softmax(-1)


@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_matches_brute_force(blank):
    lp = _log_probs(seed=1)
    labels = [v for v in range(4) if v != blank]
    targets = torch.tensor([[labels[0], labels[1], labels[1]], [labels[2], labels[0], 0], [labels[1], 0, 0]])
    target_lens = torch.tensor([3, 2, 1])
    lens = torch.tensor([5, 4, 3])
    loss, dropped = ctc_loss(lp, lens, targets, target_lens, blank=blank)
    expected = sum(_brute_ctc(lp[b, : lens[b]], targets[b, : target_lens[b]].tolist(), blank) for b in range(3))
    assert dropped == 0
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_infeasible_utterance_is_dropped_and_counted_with_finite_gradients():
    """A repeated label needs a blank between its copies: [1, 1] cannot fit in 2 frames."""
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    lp = x.log_softmax(-1)
    targets = torch.tensor([[1, 2], [1, 1]])
    loss, dropped = ctc_loss(lp, torch.tensor([4, 2]), targets, torch.tensor([2, 2]))
    assert dropped == 1
    alone, _ = ctc_loss(lp[:1], torch.tensor([4]), targets[:1], torch.tensor([2]))
    torch.testing.assert_close(loss, alone)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[1].abs().sum() == 0


def test_ctc_nan_input_is_dropped():
    lp = _log_probs(B=2, seed=2)
    lp[1, 0, 0] = math.nan
    loss, dropped = ctc_loss(lp, torch.tensor([5, 5]), torch.tensor([[1, 2], [1, 2]]), torch.tensor([2, 2]))
    assert dropped == 1 and torch.isfinite(loss)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"log_probs": torch.zeros(2, 5)}, "log_probs must be a"),
        ({"log_prob_lens": torch.tensor([6, 5])}, "log_prob_lens must lie"),
        ({"log_prob_lens": torch.tensor([5, 5], dtype=torch.int32)}, "log_prob_lens must be an int64"),
        ({"targets": torch.tensor([[1, 4], [1, 2]])}, "targets must lie"),
        ({"targets": torch.tensor([[1, 0], [1, 2]]), "target_lens": torch.tensor([2, 2])}, "never equal blank"),
        ({"target_lens": torch.tensor([3, 2])}, "target_lens must lie"),
        ({"blank": 4}, "blank must be"),
    ],
)
def test_ctc_bad_input(kwargs, match):
    args = {"log_probs": _log_probs(B=2), "log_prob_lens": torch.tensor([5, 5]),
            "targets": torch.tensor([[1, 2], [1, 2]]), "target_lens": torch.tensor([2, 1]), "blank": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ctc_loss(**args)


def test_cr_ctc_matches_explicit_sum():
    a, b = _log_probs(seed=3), _log_probs(seed=4)
    lens = torch.tensor([5, 3, 1])
    expected = 0.0
    for i in range(3):
        for t in range(int(lens[i])):
            pa, pb = a[i, t].exp(), b[i, t].exp()
            expected += 0.5 * float((pb * (b[i, t] - a[i, t])).sum() + (pa * (a[i, t] - b[i, t])).sum())
    assert cr_ctc_consistency(a, b, lens).item() == pytest.approx(expected, rel=1e-12)


def test_cr_ctc_invariants():
    a, b = _log_probs(seed=5), _log_probs(seed=6)
    lens = torch.tensor([5, 2, 0])
    assert cr_ctc_consistency(a, a, lens).item() == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(cr_ctc_consistency(a, b, lens), cr_ctc_consistency(b, a, lens))
    moved = b.clone()
    moved[1, 2:] = _log_probs(seed=7)[1, 2:]
    moved[2] = _log_probs(seed=8)[2]
    torch.testing.assert_close(cr_ctc_consistency(a, moved, lens), cr_ctc_consistency(a, b, lens))
    assert cr_ctc_consistency(a, b, lens) > 0


def test_cr_ctc_gradient_stops_at_the_target():
    """d/d(log_probs_a) of 0.5 * [KL(sg(p_b) || p_a) + KL(sg(p_a) || p_b)] is -0.5 * p_b on valid frames."""
    a = _log_probs(seed=9).requires_grad_(True)
    b = _log_probs(seed=10).requires_grad_(True)
    lens = torch.tensor([5, 3, 2])
    cr_ctc_consistency(a, b, lens).backward()
    mask = (torch.arange(5)[None, :] < lens[:, None])[:, :, None]
    torch.testing.assert_close(a.grad, torch.where(mask, -0.5 * b.detach().exp(), torch.zeros_like(a)))
    torch.testing.assert_close(b.grad, torch.where(mask, -0.5 * a.detach().exp(), torch.zeros_like(b)))


def test_cr_ctc_bad_input():
    a = _log_probs()
    with pytest.raises(ValueError, match="log_probs_b must have"):
        cr_ctc_consistency(a, a[:, :4], torch.tensor([4, 4, 4]))
    with pytest.raises(ValueError, match="lens must lie"):
        cr_ctc_consistency(a, a, torch.tensor([6, 4, 4]))
    with pytest.raises(ValueError, match="lens must be an int64"):
        cr_ctc_consistency(a, a, torch.tensor([4, 4]))
