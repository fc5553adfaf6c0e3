"""Tests of the RNN-T losses: published known answers, brute force, identities, prune ranges, bad input."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch

from hent_srt.loss import (
    do_rnnt_pruning,
    get_rnnt_logprobs,
    get_rnnt_logprobs_smoothed,
    get_rnnt_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from hent_srt.loss import mutual_information as mi

TYPES = ["regular", "modified", "constrained"]

# ---------------------------------------------------------------------------------------------------------------
# Known answers published by torchaudio: test/torchaudio_unittest/common_utils/rnnt_utils.py
# (get_B1_T2_U3_D5_data, get_B2_T4_U3_D3_data). Only the numeric arrays are reproduced here.
# ---------------------------------------------------------------------------------------------------------------

TA_B1_LOGITS = [0.1, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1, 0.2, 0.8, 0.1,
                0.1, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.1, 0.1, 0.7, 0.1, 0.2, 0.1, 0.1]
TA_B1_COST = [5.09566688538]
TA_B1_GRADS = [0.17703132, -0.39992708, 0.17703132, 0.17703132, -0.13116692,
               0.12247062, 0.12247062, -0.181684, 0.12247062, -0.1857276,
               0.06269141, 0.06269141, 0.06928471, 0.12624498, -0.32091248,
               0.05456069, -0.2182428, 0.05456069, 0.05456069, 0.05456069,
               0.12073967, 0.12073967, -0.48295838, 0.12073967, 0.12073967,
               0.30741188, 0.16871123, 0.18645471, 0.16871123, -0.83128875]

TA_B2_LOGITS = [0.065357, 0.787530, 0.081592, 0.529716, 0.750675, 0.754135, 0.609764, 0.868140, 0.622532,
                0.668522, 0.858039, 0.164539, 0.989780, 0.944298, 0.603168, 0.946783, 0.666203, 0.286882,
                0.094184, 0.366674, 0.736168, 0.166680, 0.714154, 0.399400, 0.535982, 0.291821, 0.612642,
                0.324241, 0.800764, 0.524106, 0.779195, 0.183314, 0.113745, 0.240222, 0.339470, 0.134160,
                0.505562, 0.051597, 0.640290, 0.430733, 0.829473, 0.177467, 0.320700, 0.042883, 0.302803,
                0.675178, 0.569537, 0.558474, 0.083132, 0.060165, 0.107958, 0.748615, 0.943918, 0.486356,
                0.418199, 0.652408, 0.024243, 0.134582, 0.366342, 0.295830, 0.923670, 0.689929, 0.741898,
                0.250005, 0.603430, 0.987289, 0.592606, 0.884672, 0.543450, 0.660770, 0.377128, 0.358021]
TA_B2_COSTS = [4.2806528590890736, 3.9384369822503591]
TA_B2_GRADS = [-0.186844, -0.062555, 0.249399, -0.203377, 0.202399, 0.000977, -0.141016, 0.079123, 0.061893,
               -0.011552, -0.081280, 0.092832, -0.154257, 0.229433, -0.075176, -0.246593, 0.146405, 0.100188,
               -0.012918, -0.061593, 0.074512, -0.055986, 0.219831, -0.163845, -0.497627, 0.209240, 0.288387,
               0.013605, -0.030220, 0.016615, 0.113925, 0.062781, -0.176706, -0.667078, 0.367659, 0.299419,
               -0.356344, -0.055347, 0.411691, -0.096922, 0.029459, 0.067463, -0.063518, 0.027654, 0.035863,
               -0.154499, -0.073942, 0.228441, -0.166790, -0.000088, 0.166878, -0.172370, 0.105565, 0.066804,
               0.023875, -0.118256, 0.094381, -0.104707, -0.108934, 0.213642, -0.369844, 0.180118, 0.189726,
               0.025714, -0.079462, 0.053748, 0.122328, -0.238789, 0.116460, -0.598687, 0.302203, 0.296484]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "logits, shape, symbols, blank, costs, grads, atol",
    [
        (TA_B1_LOGITS, (1, 2, 3, 5), [[1, 2]], 4, TA_B1_COST, TA_B1_GRADS, 1e-6),
        (TA_B2_LOGITS, (2, 4, 3, 3), [[1, 2], [1, 1]], 0, TA_B2_COSTS, TA_B2_GRADS, 2e-6),
    ],
)
def test_torchaudio_known_answers(logits, shape, symbols, blank, costs, grads, atol, dtype):
    x = torch.tensor(logits, dtype=dtype).reshape(shape).requires_grad_(True)
    B, T = shape[:2]
    boundary = torch.tensor([[0, 0, 2, T]] * B)
    loss = rnnt_loss(x, torch.tensor(symbols), blank, boundary, reduction="none")
    loss.sum().backward()
    # The published answers were computed in float32 and printed to about 7 significant digits.
    torch.testing.assert_close(loss, torch.tensor(costs, dtype=dtype), rtol=0, atol=1e-6)
    torch.testing.assert_close(x.grad, torch.tensor(grads, dtype=dtype).reshape(shape), rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------------------------------
# Brute force over alignments
# ---------------------------------------------------------------------------------------------------------------


def _alignments(rnnt_type: str, S: int, T: int):
    """Each alignment as a list of (kind, s, t) emissions, kind "sym" or "blk", in lattice order."""
    if rnnt_type == "regular":
        # T blanks and S symbols; the last emission is the blank of the last frame.
        for sym_pos in itertools.combinations(range(S + T - 1), S):
            s = t = 0
            out = []
            for i in range(S + T):
                if i in sym_pos:
                    out.append(("sym", s, t))
                    s += 1
                else:
                    out.append(("blk", s, t))
                    t += 1
            yield out
    else:
        for sym_frames in itertools.combinations(range(T), S):
            s = 0
            out = []
            for t in range(T):
                if t in sym_frames:
                    out.append(("sym", s, t))
                    s += 1
                else:
                    out.append(("blk", s, t))
            yield out


def _brute_loss(log_probs, symbols, blank, lengths, rnnt_type, delay_penalty=0.0):
    """-log sum over alignments, log_probs (B, T, S + 1, C) normalised; differentiable through autograd."""
    losses = []
    for b, (s_b, t_b) in enumerate(lengths):
        scores = []
        for path in _alignments(rnnt_type, s_b, t_b):
            total = log_probs.new_zeros(())
            for kind, s, t in path:
                if kind == "blk":
                    total = total + log_probs[b, t, s, blank]
                    continue
                total = total + log_probs[b, t, s, symbols[b][s]] + delay_penalty * ((t_b - 1) / 2 - t)
                if rnnt_type == "constrained":
                    total = total + log_probs[b, t, s + 1, blank]
            scores.append(total)
        losses.append(-torch.logsumexp(torch.stack(scores), 0))
    return torch.stack(losses)


def _problem(B=3, T=5, S=3, C=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, dtype=dtype, generator=g)
    lm = torch.randn(B, S + 1, C, dtype=dtype, generator=g)
    logits = torch.randn(B, T, S + 1, C, dtype=dtype, generator=g)
    symbols = torch.randint(1, C, (B, S), generator=g)
    lengths = [(S, T), (S - 1, T - 1), (0, T - 2)][:B]
    boundary = torch.tensor([[0, 0, s, t] for s, t in lengths])
    return am, lm, logits, symbols, boundary, lengths


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_full_loss_matches_brute_force(rnnt_type):
    _, _, logits, symbols, boundary, lengths = _problem(seed=1)
    logits.requires_grad_(True)
    loss = rnnt_loss(logits, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    x = logits.detach().clone().requires_grad_(True)
    ref = _brute_loss(x.log_softmax(-1), symbols.tolist(), 0, lengths, rnnt_type)
    (ref_grad,) = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_loss_matches_brute_force_with_delay_penalty(rnnt_type):
    am, lm, _, symbols, boundary, lengths = _problem(seed=2)
    am.requires_grad_(True)
    lm.requires_grad_(True)
    loss = rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type=rnnt_type, delay_penalty=0.3, reduction="none")
    grads = torch.autograd.grad(loss.sum(), (am, lm))
    a, m = am.detach().clone().requires_grad_(True), lm.detach().clone().requires_grad_(True)
    log_probs = (a[:, :, None] + m[:, None]).log_softmax(-1)
    ref = _brute_loss(log_probs, symbols.tolist(), 0, lengths, rnnt_type, delay_penalty=0.3)
    ref_grads = torch.autograd.grad(ref.sum(), (a, m))
    torch.testing.assert_close(loss, ref)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


# ---------------------------------------------------------------------------------------------------------------
# Identities between the losses
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_equals_full_on_additive_logits_and_smoothed_at_zero_scales(rnnt_type):
    am, lm, _, symbols, boundary, _ = _problem(B=3, T=7, S=4, C=6, seed=3)
    simple = rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none")
    full = rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none")
    smoothed = rnnt_loss_smoothed(lm, am, symbols, 0, 0.0, 0.0, boundary, rnnt_type=rnnt_type, reduction="none")
    torch.testing.assert_close(simple, full)
    torch.testing.assert_close(smoothed, simple)


def test_smoothed_extremes_are_lm_only_and_unigram_am_only():
    """lm_only_scale=1 is the simple loss with a constant am; am_only_scale=1 uses the unigram of softmax(lm)."""
    am, lm, _, symbols, boundary, _ = _problem(B=3, T=6, S=3, C=5, seed=4)
    lm_only = rnnt_loss_smoothed(lm, am, symbols, 0, 1.0, 0.0, boundary, reduction="none")
    torch.testing.assert_close(lm_only, rnnt_loss_simple(lm, torch.zeros_like(am), symbols, 0, boundary,
                                                         reduction="none"))
    am_only = rnnt_loss_smoothed(lm, am, symbols, 0, 0.0, 1.0, boundary, reduction="none")
    unigram = lm.softmax(-1).mean(dim=(0, 1)).log().expand_as(lm)
    torch.testing.assert_close(am_only, rnnt_loss_simple(unigram, am, symbols, 0, boundary, reduction="none"))


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_smoothed_logprobs_interpolate_in_log_domain(rnnt_type):
    am, lm, _, symbols, boundary, _ = _problem(B=2, T=6, S=3, C=5, seed=5)
    parts = [get_rnnt_logprobs_smoothed(lm, am, symbols, 0, lo, ao, boundary, "regular")
             for lo, ao in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))]
    px, py = get_rnnt_logprobs_smoothed(lm, am, symbols, 0, 0.25, 0.1, boundary, "regular")
    finite = torch.isfinite(px)
    exp_px = 0.65 * parts[0][0] + 0.25 * parts[1][0] + 0.1 * parts[2][0]
    torch.testing.assert_close(px[finite], exp_px[finite])
    torch.testing.assert_close(py, 0.65 * parts[0][1] + 0.25 * parts[1][1] + 0.1 * parts[2][1])


def test_per_frame_shifts_of_am_leave_loss_unchanged():
    am, lm, logits, symbols, boundary, _ = _problem(B=2, T=6, S=3, C=5, seed=6)
    shift = 10 * torch.randn(2, 6, 1, dtype=torch.float64)
    for rnnt_type in TYPES:
        base = rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none")
        moved = rnnt_loss_simple(lm, am + shift, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none")
        torch.testing.assert_close(base, moved)
        full = rnnt_loss(logits, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none")
        full_moved = rnnt_loss(logits + shift[:, :, None], symbols, 0, boundary, rnnt_type=rnnt_type,
                               reduction="none")
        torch.testing.assert_close(full, full_moved)


def test_reductions():
    am, lm, _, symbols, boundary, _ = _problem(seed=7)
    none = rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="none")
    assert none.shape == (3,)
    torch.testing.assert_close(rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="sum"), none.sum())
    torch.testing.assert_close(rnnt_loss_simple(lm, am, symbols, 0, boundary), none.mean())


def test_empty_targets_cost_is_sum_of_blanks():
    _, _, logits, _, _, _ = _problem(B=2, T=4, S=0, C=3, seed=8)
    symbols = torch.zeros(2, 0, dtype=torch.int64)
    expected = -logits.log_softmax(-1)[:, :, 0, 0].sum(1)
    for rnnt_type in TYPES:
        torch.testing.assert_close(rnnt_loss(logits, symbols, 0, rnnt_type=rnnt_type, reduction="none"), expected)


def test_return_grad_is_occupancy_of_unreduced_loss():
    am, lm, _, symbols, boundary, _ = _problem(seed=9)
    px, py = get_rnnt_logprobs(lm, am, symbols, 0, boundary)
    px.requires_grad_(True)
    py.requires_grad_(True)
    (-mi.mutual_information_recursion(px, py, boundary)).sum().backward()
    loss, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="sum", return_grad=True)
    torch.testing.assert_close(loss, rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="sum"))
    torch.testing.assert_close(px_grad, -px.grad)
    torch.testing.assert_close(py_grad, -py.grad)


# ---------------------------------------------------------------------------------------------------------------
# Pruning
# ---------------------------------------------------------------------------------------------------------------


def _pruned_setup(rnnt_type, s_range, B=3, T=12, S=6, C=7, seed=10):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, dtype=torch.float64, generator=g)
    lm = torch.randn(B, S + 1, C, dtype=torch.float64, generator=g)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 2, T - 3], [0, 0, 1, T - 5]])
    _, (px_grad, py_grad) = rnnt_loss_smoothed(lm, am, symbols, 0, 0.25, 0.0, boundary, rnnt_type=rnnt_type,
                                               reduction="sum", return_grad=True)
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    return am, lm, symbols, boundary, ranges


def _tanh_joiner(am: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
    """A non-additive joiner, so the full loss differs from the simple one."""
    return torch.tanh(am + lm) * 3.0 + 0.5 * am


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pruned_with_full_range_equals_full_loss(rnnt_type):
    am, lm, symbols, boundary, ranges = _pruned_setup(rnnt_type, s_range=7)
    assert ranges.shape == (3, 12, 7)
    am_p, lm_p = do_rnnt_pruning(am, lm, ranges)
    pruned = rnnt_loss_pruned(_tanh_joiner(am_p, lm_p), symbols, ranges, 0, boundary, rnnt_type=rnnt_type,
                              delay_penalty=0.1, reduction="none")
    full = rnnt_loss(_tanh_joiner(am[:, :, None], lm[:, None]), symbols, 0, boundary, rnnt_type=rnnt_type,
                     delay_penalty=0.1, reduction="none")
    torch.testing.assert_close(pruned, full)


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("s_range", [2, 3, 4])
def test_pruned_is_finite_and_not_below_full(rnnt_type, s_range):
    am, lm, symbols, boundary, ranges = _pruned_setup(rnnt_type, s_range=s_range, seed=11 + s_range)
    am_p, lm_p = do_rnnt_pruning(am, lm, ranges)
    joiner_pruned = _tanh_joiner(am_p, lm_p).requires_grad_(True)
    pruned = rnnt_loss_pruned(joiner_pruned, symbols, ranges, 0, boundary, rnnt_type=rnnt_type, reduction="none")
    full = rnnt_loss(_tanh_joiner(am[:, :, None], lm[:, None]), symbols, 0, boundary, rnnt_type=rnnt_type,
                     reduction="none")
    assert torch.isfinite(pruned).all()
    assert (pruned >= full - 1e-9).all()
    pruned.sum().backward()
    assert torch.isfinite(joiner_pruned.grad).all()


def _reference_ranges(px_grad, py_grad, boundary, s_range):
    """The prune-range rules of k2, written as plain Python loops."""
    B, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    regular = T1 == T + 1
    if regular:
        s_range = max(s_range, max(int((sb - 1) / tb) + 2 for _, _, sb, tb in boundary.tolist()))
    if s_range > S:
        s_range = S + 1
    r = s_range if regular else 2
    out = []
    for b in range(B):
        S_b, T_b = int(boundary[b, 2]), int(boundary[b, 3])
        begin = []
        for t in range(T):
            if t >= T_b - 1:
                begin.append(max(0, S_b - s_range + 1))
                continue
            scores = []
            for s in range(S + 2 - s_range):
                blk = sum(float(py_grad[b, s + k, t]) for k in range(s_range))
                scores.append(blk - (float(px_grad[b, s - 1, t]) if s > 0 else 0.0))
            best = max(scores)
            begin.append(min(i for i, v in enumerate(scores) if v >= best - 1e-12))
        x = [min(begin[t:]) for t in range(T)]
        y = [(r - 1) * t - x[t] for t in range(T)]
        y = [max(0, min(y[t:])) for t in range(T)]
        out.append([[(r - 1) * t - y[t] + k for k in range(s_range)] for t in range(T)])
    return torch.tensor(out)


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("s_range", [1, 2, 3, 5])
def test_prune_ranges_follow_k2_rules_exactly(rnnt_type, s_range):
    g = torch.Generator().manual_seed(20 + s_range)
    B, S, T = 3, 6, 9
    # Occupancy-like values on a coarse grid, so that ties (first index wins) occur.
    px_grad = torch.randint(0, 4, (B, S, T + 1 if rnnt_type == "regular" else T), generator=g).double() / 4
    py_grad = torch.randint(0, 4, (B, S + 1, T), generator=g).double() / 4
    boundary = torch.tensor([[0, 0, 6, 9], [0, 0, 3, 7], [0, 0, 0, 4]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # regular with s_range 1 is raised to 2, with a warning
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    assert torch.equal(ranges, _reference_ranges(px_grad, py_grad, boundary, s_range))


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_prune_range_properties(rnnt_type):
    s_range = 3
    _, _, _, boundary, ranges = _pruned_setup(rnnt_type, s_range=s_range, seed=30)
    begin = ranges[:, :, 0]
    step = s_range - 1 if rnnt_type == "regular" else 1
    assert torch.equal(ranges, begin[:, :, None] + torch.arange(s_range))
    assert (begin[:, 0] == 0).all()
    diffs = begin[:, 1:] - begin[:, :-1]
    assert (diffs >= 0).all() and (diffs <= step).all()
    assert ranges.min() >= 0 and ranges.max() <= 6
    for b, (_, _, s_b, t_b) in enumerate(boundary.tolist()):
        assert begin[b, t_b - 1] == max(0, s_b - s_range + 1)


def test_prune_range_is_raised_to_the_safe_minimum():
    """Regular RNN-T with 10 symbols in 3 frames needs windows of trunc(9 / 3) + 2 = 5."""
    B, S, T = 1, 10, 3
    px_grad = torch.rand(B, S, T + 1, dtype=torch.float64)
    py_grad = torch.rand(B, S + 1, T, dtype=torch.float64)
    boundary = torch.tensor([[0, 0, S, T]])
    with pytest.warns(UserWarning, match="s_range=2"):
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    assert ranges.shape == (1, 3, 5)


def test_prune_range_minimum_truncates_toward_zero_for_empty_targets():
    """S_b = 0: trunc(-1 / T_b) + 2 = 2 (Python's floor division would give 1 and reject s_range 1)."""
    px_grad = torch.zeros(2, 0, 5, dtype=torch.float64)
    py_grad = torch.ones(2, 1, 4, dtype=torch.float64)
    with pytest.warns(UserWarning):
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, torch.tensor([[0, 0, 0, 4], [0, 0, 0, 3]]), 1)
    assert torch.equal(ranges, torch.zeros(2, 4, 1, dtype=torch.int64))


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------


def _bad_cases():
    am, lm, logits, symbols, boundary, _ = _problem(seed=40)
    nan_logits = logits.clone()
    nan_logits[0, 1, 2, 3] = math.nan
    nan_am = am.clone()
    nan_am[1, 2, 0] = math.nan
    return [
        (lambda: rnnt_loss(logits[0], symbols, 0), "logits must have 4 dims"),
        (lambda: rnnt_loss(logits[:, :, :2], symbols, 0), r"logits must have shape \(B, T, S \+ 1, C\)"),
        (lambda: rnnt_loss(logits, symbols[:2], 0), "symbols must have shape"),
        (lambda: rnnt_loss(logits, symbols + 4, 0), r"symbols must lie in \[0, C\)"),
        (lambda: rnnt_loss(logits, symbols.int(), 0), "symbols must be an int64"),
        (lambda: rnnt_loss(logits, symbols, 4), "termination_symbol"),
        (lambda: rnnt_loss(nan_logits, symbols, 0), "logits contains NaN"),
        (lambda: rnnt_loss(logits, symbols, 0, torch.tensor([[0, 0, 4, 5]] * 3)), r"boundary\[0\]"),
        (lambda: rnnt_loss(logits, symbols, 0, torch.tensor([[0, 0, 3, 6]] * 3)), r"boundary\[0\]"),
        (lambda: rnnt_loss(logits, symbols, 0, boundary[:, :3]), "boundary must be a"),
        (lambda: rnnt_loss(logits, symbols, 0, boundary.int()), "boundary must be int64"),
        (lambda: rnnt_loss(logits, symbols, 0, reduction="avg"), "reduction must be one of"),
        (lambda: rnnt_loss(logits, symbols, 0, rnnt_type="hybrid"), "rnnt_type must be one of"),
        (lambda: rnnt_loss(logits, symbols, 0, delay_penalty=-1.0), "delay_penalty"),
        (lambda: rnnt_loss(logits[:, :2], symbols, 0, rnnt_type="modified"), "T >= S"),
        (lambda: rnnt_loss(logits, symbols, 0, torch.tensor([[0, 0, 3, 2]] * 3), rnnt_type="constrained"),
         "fewer frames than symbols"),
        (lambda: rnnt_loss_simple(lm, nan_am, symbols, 0), "am contains NaN"),
        (lambda: rnnt_loss_simple(lm[:, :, :3], am, symbols, 0), "lm must have shape"),
        (lambda: rnnt_loss_simple(lm, am.half(), symbols, 0), "am must be float32 or float64"),
        (lambda: rnnt_loss_smoothed(lm, am, symbols, 0, 0.7, 0.5), "lm_only_scale \\+ am_only_scale"),
        (lambda: rnnt_loss_smoothed(lm, am, symbols, 0, -0.1, 0.0), "lm_only_scale must lie"),
        (lambda: get_rnnt_prune_ranges(torch.rand(3, 3, 6), torch.rand(3, 4, 5), None, 2), "boundary is required"),
        (lambda: get_rnnt_prune_ranges(torch.rand(3, 3, 6), torch.rand(3, 3, 5), boundary, 2), "py_grad must have"),
        (lambda: get_rnnt_prune_ranges(torch.rand(3, 3, 5), torch.rand(3, 4, 5), boundary, 0), "s_range must be >= 1"),
        (lambda: do_rnnt_pruning(am, lm, torch.full((3, 5, 2), 4)), "ranges must lie in"),
        (lambda: rnnt_loss_pruned(logits[:, :, :2], symbols, 3 + torch.arange(2).expand(3, 5, 2), 0),
         "ranges must select"),
        (lambda: rnnt_loss_pruned(logits[:, :, :2], symbols, torch.ones(3, 5, 2, dtype=torch.int64), 0),
         "consecutive"),
        (lambda: rnnt_loss_pruned(logits[:, :, :2], symbols, torch.zeros(3, 5, 3, dtype=torch.int64), 0),
         "ranges must be an int64 tensor of shape"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_bad_input_raises_value_error_naming_argument(case):
    call, match = _bad_cases()[case]
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------------------------
# k2 agreement (only where k2 imports)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(mi._import_k2() is None, reason="k2 is not importable")
@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pipeline_agrees_with_k2(rnnt_type, monkeypatch):
    import k2

    monkeypatch.setenv(mi.BACKEND_ENV, "torch")
    am, lm, symbols, boundary, _ = _pruned_setup(rnnt_type, s_range=3, seed=50)
    ours, (gx, gy) = rnnt_loss_smoothed(lm, am, symbols, 0, 0.25, 0.0, boundary, rnnt_type=rnnt_type,
                                        reduction="none", return_grad=True)
    theirs, (kx, ky) = k2.rnnt_loss_smoothed(lm, am, symbols, 0, 0.25, 0.0, boundary, rnnt_type=rnnt_type,
                                             reduction="none", return_grad=True)
    torch.testing.assert_close(ours, theirs)
    k2_ranges = k2.get_rnnt_prune_ranges(kx, ky, boundary, 3)
    assert torch.equal(get_rnnt_prune_ranges(gx, gy, boundary, 3), k2_ranges)
    am_p, lm_p = do_rnnt_pruning(am, lm, k2_ranges)
    logits = _tanh_joiner(am_p, lm_p)
    torch.testing.assert_close(
        rnnt_loss_pruned(logits, symbols, k2_ranges, 0, boundary, rnnt_type=rnnt_type, reduction="none"),
        k2.rnnt_loss_pruned(logits, symbols, k2_ranges, 0, boundary, rnnt_type=rnnt_type, reduction="none"),
    )
