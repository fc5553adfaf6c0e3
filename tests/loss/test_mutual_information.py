"""Tests of the lattice recursion against brute-force path enumeration, gradcheck and occupancy invariants."""

from __future__ import annotations

import math

import pytest
import torch

from hent_srt.loss import mutual_information as mi
from hent_srt.loss.mutual_information import mutual_information_recursion


def _paths(regular: bool, s0: int, t0: int, s1: int, t1: int):
    """All paths (s0, t0) -> (s1, t1) as lists of arcs ("x" | "y", s, t)."""
    if (s0, t0) == (s1, t1):
        yield []
        return
    if s0 < s1 and (regular or t0 < t1):
        nxt = (s0 + 1, t0) if regular else (s0 + 1, t0 + 1)
        for rest in _paths(regular, *nxt, s1, t1):
            yield [("x", s0, t0)] + rest
    if t0 < t1:
        for rest in _paths(regular, s0, t0 + 1, s1, t1):
            yield [("y", s0, t0)] + rest


def _brute(px: torch.Tensor, py: torch.Tensor, bounds: list[list[int]], regular: bool):
    """Scores (B,) and occupancies by enumerating every path and its posterior."""
    B = px.shape[0]
    scores = torch.full((B,), -math.inf, dtype=torch.float64)
    gx, gy = torch.zeros_like(px, dtype=torch.float64), torch.zeros_like(py, dtype=torch.float64)
    for b in range(B):
        paths = list(_paths(regular, *bounds[b]))
        if not paths:
            continue
        logp = torch.tensor([sum(float((px if k == "x" else py)[b, s, t]) for k, s, t in p) for p in paths],
                            dtype=torch.float64)
        scores[b] = torch.logsumexp(logp, 0)
        post = (logp - scores[b]).exp()
        for w, p in zip(post.tolist(), paths):
            for k, s, t in p:
                (gx if k == "x" else gy)[b, s, t] += w
    return scores, gx, gy


def _random_lattice(regular: bool, B: int = 3, S: int = 3, T: int = 4, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    px = torch.randn(B, S, T + 1 if regular else T, dtype=dtype, generator=g)
    py = torch.randn(B, S + 1, T, dtype=dtype, generator=g)
    return px, py


BOUNDS = [[0, 0, 3, 4], [1, 1, 2, 3], [0, 2, 3, 4]]


@pytest.mark.parametrize("regular", [True, False])
def test_scores_and_occupancies_match_brute_force(regular):
    px, py = _random_lattice(regular)
    scores, (gx, gy) = mutual_information_recursion(px, py, torch.tensor(BOUNDS), return_grad=True)
    ref_scores, ref_gx, ref_gy = _brute(px, py, BOUNDS, regular)
    torch.testing.assert_close(scores, ref_scores)
    torch.testing.assert_close(gx, ref_gx)
    torch.testing.assert_close(gy, ref_gy)


@pytest.mark.parametrize("regular", [True, False])
def test_default_boundary_is_full_lattice(regular):
    px, py = _random_lattice(regular, seed=1)
    full = torch.tensor([[0, 0, 3, 4]] * 3)
    torch.testing.assert_close(mutual_information_recursion(px, py), mutual_information_recursion(px, py, full))
    torch.testing.assert_close(mutual_information_recursion(px, py), _brute(px, py, full.tolist(), regular)[0])


@pytest.mark.parametrize("regular", [True, False])
def test_gradcheck_float64(regular):
    px, py = _random_lattice(regular, B=2, S=2, T=3, seed=2)
    px.requires_grad_(True)
    py.requires_grad_(True)
    boundary = torch.tensor([[0, 0, 2, 3], [0, 1, 1, 3]])
    assert torch.autograd.gradcheck(lambda a, b: mutual_information_recursion(a, b, boundary), (px, py))


@pytest.mark.parametrize("regular", [True, False])
def test_autograd_scales_occupancies_by_incoming_gradient(regular):
    px, py = _random_lattice(regular, seed=3)
    _, (gx, gy) = mutual_information_recursion(px, py, torch.tensor(BOUNDS), return_grad=True)
    px.requires_grad_(True)
    py.requires_grad_(True)
    weights = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    (mutual_information_recursion(px, py, torch.tensor(BOUNDS)) * weights).sum().backward()
    torch.testing.assert_close(px.grad, gx * weights[:, None, None])
    torch.testing.assert_close(py.grad, gy * weights[:, None, None])


def test_occupancy_invariants_regular():
    """Per frame t < T_b the blank occupancies sum to 1; per symbol s < S_b the symbol occupancies sum to 1."""
    B, S, T = 4, 5, 7
    px, py = _random_lattice(True, B=B, S=S, T=T, seed=4)
    lengths = [(5, 7), (3, 7), (5, 5), (0, 4)]
    boundary = torch.tensor([[0, 0, s, t] for s, t in lengths])
    _, (gx, gy) = mutual_information_recursion(px, py, boundary, return_grad=True)
    assert gx.min() >= 0 and gx.max() <= 1 and gy.min() >= 0 and gy.max() <= 1
    for b, (s_b, t_b) in enumerate(lengths):
        torch.testing.assert_close(gy[b, :, :t_b].sum(0), torch.ones(t_b, dtype=torch.float64))
        torch.testing.assert_close(gx[b, :s_b, :].sum(1), torch.ones(s_b, dtype=torch.float64))
        assert gx[b, s_b:].abs().sum() == 0 and gy[b, :, t_b:].abs().sum() == 0 and gy[b, s_b + 1:].sum() == 0


def test_occupancy_invariants_modified():
    """Each frame is consumed by exactly one arc (blank or symbol); each symbol is emitted exactly once."""
    B, S, T = 2, 3, 6
    px, py = _random_lattice(False, B=B, S=S, T=T, seed=5)
    lengths = [(3, 6), (2, 4)]
    boundary = torch.tensor([[0, 0, s, t] for s, t in lengths])
    _, (gx, gy) = mutual_information_recursion(px, py, boundary, return_grad=True)
    for b, (s_b, t_b) in enumerate(lengths):
        per_frame = gy[b, :, :t_b].sum(0) + gx[b, :, :t_b].sum(0)
        torch.testing.assert_close(per_frame, torch.ones(t_b, dtype=torch.float64))
        torch.testing.assert_close(gx[b, :s_b].sum(1), torch.ones(s_b, dtype=torch.float64))


def test_unreachable_end_scores_minus_inf_and_zero_gradient():
    """Modified lattice with more symbols than frames: no path; score -inf, gradient exactly 0 (no NaN)."""
    px, py = _random_lattice(False, B=2, S=3, T=4, seed=6)
    px.requires_grad_(True)
    py.requires_grad_(True)
    boundary = torch.tensor([[0, 0, 3, 2], [0, 0, 2, 4]])
    scores = mutual_information_recursion(px, py, boundary)
    assert scores[0] == -math.inf and torch.isfinite(scores[1])
    scores[1].backward()
    assert torch.isfinite(px.grad).all() and torch.isfinite(py.grad).all()
    assert px.grad[0].abs().sum() == 0 and py.grad[0].abs().sum() == 0


def test_minus_inf_arcs_get_zero_gradient():
    """-inf arcs (like px[:, :, T] in RNN-T) and arcs made useless by them get gradient 0, never NaN."""
    px, py = _random_lattice(True, B=1, S=2, T=3, seed=7)
    px[:, :, 3] = -math.inf
    py[:, 1, :] = -math.inf  # no blank after the first symbol: only paths that emit both symbols at once
    px.requires_grad_(True)
    py.requires_grad_(True)
    score = mutual_information_recursion(px, py)
    score.sum().backward()
    assert torch.isfinite(px.grad).all() and torch.isfinite(py.grad).all()
    assert px.grad[0, :, 3].abs().sum() == 0 and py.grad[0, 1].abs().sum() == 0
    ref, ref_gx, _ = _brute(px.detach(), py.detach(), [[0, 0, 2, 3]], True)
    torch.testing.assert_close(score, ref)
    torch.testing.assert_close(px.grad, ref_gx)


def test_empty_symbols_scores_sum_of_blanks():
    py = torch.randn(2, 1, 5, dtype=torch.float64)
    for px in (torch.zeros(2, 0, 6, dtype=torch.float64), torch.zeros(2, 0, 5, dtype=torch.float64)):
        scores, (gx, gy) = mutual_information_recursion(px, py, return_grad=True)
        torch.testing.assert_close(scores, py[:, 0].sum(1))
        torch.testing.assert_close(gy, torch.ones_like(py))
        assert gx.shape == px.shape


@pytest.mark.parametrize("regular", [True, False])
def test_float32_agrees_with_float64(regular):
    px, py = _random_lattice(regular, B=2, S=6, T=9, seed=8)
    s64, (gx64, _) = mutual_information_recursion(px, py, return_grad=True)
    s32, (gx32, _) = mutual_information_recursion(px.float(), py.float(), return_grad=True)
    assert s32.dtype == torch.float32
    torch.testing.assert_close(s32.double(), s64, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gx32.double(), gx64, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("regular", [True, False])
def test_cuda_matches_cpu(regular):
    px, py = _random_lattice(regular, B=3, S=5, T=8, seed=9)
    boundary = torch.tensor([[0, 0, 5, 8], [0, 0, 3, 6], [1, 0, 4, 8]])
    cpu, (gx, gy) = mutual_information_recursion(px, py, boundary, return_grad=True)
    gpu, (gx_gpu, gy_gpu) = mutual_information_recursion(px.cuda(), py.cuda(), boundary.cuda(), return_grad=True)
    torch.testing.assert_close(gpu.cpu(), cpu)
    torch.testing.assert_close(gx_gpu.cpu(), gx)
    torch.testing.assert_close(gy_gpu.cpu(), gy)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda px, py: (px[0], py, None), "px must have 3 dims"),
        (lambda px, py: (px, py[:, :-1], None), "py must have shape"),
        (lambda px, py: (px[:, :, :-2], py, None), r"px.shape\[2\]"),
        (lambda px, py: (px.half(), py, None), "px must be float32 or float64"),
        (lambda px, py: (px, py.float(), None), "share dtype"),
        (lambda px, py: (px, py, torch.tensor([[0, 0, 4, 4]] * 3)), r"boundary\[0\]"),
        (lambda px, py: (px, py, torch.tensor([[0, 0, 3, 5]] * 3)), r"boundary\[0\]"),
        (lambda px, py: (px, py, torch.tensor([[2, 0, 1, 4]] * 3)), r"boundary\[0\]"),
        (lambda px, py: (px, py, torch.tensor([[0, 0, 3, 4]])), "boundary must be a"),
        (lambda px, py: (px, py, torch.zeros(3, 4)), "boundary must be an integer"),
        (lambda px, py: (px.index_fill(2, torch.tensor([1]), math.nan), py, None), "px contains NaN"),
        (lambda px, py: (px, py.index_fill(2, torch.tensor([1]), math.inf), None), r"py contains NaN or \+inf"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(make, match):
    px, py = _random_lattice(True)
    args = make(px, py)
    with pytest.raises(ValueError, match=match):
        mutual_information_recursion(*args)


def test_backend_selection(monkeypatch):
    px, py = _random_lattice(True)
    monkeypatch.setenv(mi.BACKEND_ENV, "torch")
    assert mi.selected_backend(px) == "torch"
    monkeypatch.setenv(mi.BACKEND_ENV, "bogus")
    with pytest.raises(ValueError, match=mi.BACKEND_ENV):
        mutual_information_recursion(px, py)
    monkeypatch.setenv(mi.BACKEND_ENV, "auto")
    expected = "k2" if mi._import_k2() is not None else "torch"
    assert mi.selected_backend(px) == expected
    if mi._import_k2() is None:
        monkeypatch.setenv(mi.BACKEND_ENV, "k2")
        with pytest.raises(ValueError, match="k2 cannot be imported"):
            mutual_information_recursion(px, py)


@pytest.mark.skipif(mi._import_k2() is None, reason="k2 is not importable")
@pytest.mark.parametrize("regular", [True, False])
def test_k2_backend_agrees(regular, monkeypatch):
    px, py = _random_lattice(regular, B=3, S=4, T=6, seed=10)
    boundary = torch.tensor([[0, 0, 4, 6], [0, 0, 2, 5], [1, 1, 3, 6]])
    monkeypatch.setenv(mi.BACKEND_ENV, "torch")
    ours, (gx, gy) = mutual_information_recursion(px, py, boundary, return_grad=True)
    monkeypatch.setenv(mi.BACKEND_ENV, "k2")
    theirs, (kx, ky) = mutual_information_recursion(px, py, boundary, return_grad=True)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(gx, kx)
    torch.testing.assert_close(gy, ky)
