"""ScaledAdam: known first steps, convergence, batching invariance, clipping, exact resume, validation."""

import io

import pytest
import torch

from hent_srt.optim import Eden, ScaledAdam


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: extra intra-op threads only add contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def test_first_two_steps_match_hand_computed_update():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, 4))
    w0 = w.detach().clone()
    g1, g2 = torch.randn(5, 4), torch.randn(5, 4)
    lr, b1, b2, eps = 0.05, 0.9, 0.98, 1e-8
    opt = ScaledAdam([("w", w)], lr=lr, betas=(b1, b2), eps=eps, size_update_period=4)

    rms = w0.pow(2).mean().sqrt()
    w.grad = g1.clone()
    opt.step()
    # step 0: v = (1-b2) g1^2, bias-corrected to g1^2; d = -lr (1-b1) rms g1 / (|g1| + eps)
    d1 = -lr * (1 - b1) * rms * g1 / (g1.abs() + eps)
    torch.testing.assert_close(w.detach(), w0 + d1, rtol=1e-6, atol=1e-7)

    w.grad = g2.clone()
    opt.step()
    v2 = (b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2) / (1 - b2**2)
    d2 = b1 * d1 - lr * (1 - b1) * rms * g2 / (v2.sqrt() + eps)
    torch.testing.assert_close(w.detach(), w0 + d1 + d2, rtol=1e-6, atol=1e-7)


def test_linear_regression_reaches_least_squares_solution():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(128, 6, generator=gen)
    true_w = torch.randn(6, 3, generator=gen)
    y = x @ true_w + 0.5 + 0.05 * torch.randn(128, 3, generator=gen)
    x1 = torch.cat([x, torch.ones(128, 1)], dim=1)
    best = torch.linalg.lstsq(x1, y).solution  # (7, 3)
    best_loss = ((x1 @ best - y) ** 2).mean().item()

    torch.manual_seed(1)
    lin = torch.nn.Linear(6, 3)
    opt = ScaledAdam(lin.named_parameters(), lr=0.05, clipping_scale=2.0, clipping_update_period=20)
    sched = Eden(opt, lr_batches=60, lr_epochs=10, warmup_batches=10)
    first = None
    for _ in range(300):
        loss = ((lin(x) - y) ** 2).mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_batch()
    final = ((lin(x) - y) ** 2).mean().item()
    assert final < first / 100
    assert final < best_loss * 1.05 + 1e-4
    torch.testing.assert_close(lin.weight.detach().T, best[:6], atol=0.02, rtol=0.0)


def test_two_layer_mlp_with_scalar_gain_converges():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(200, 6, generator=gen)
    y = torch.tanh(x @ torch.randn(6, 3, generator=gen)) + 0.3
    model = _mlp(2)
    gain = torch.nn.Parameter(torch.tensor(1.0))
    opt = ScaledAdam(
        list(model.named_parameters()) + [("gain", gain)],
        lr=0.05,
        clipping_scale=2.0,
        clipping_update_period=20,
    )
    sched = Eden(opt, lr_batches=100, lr_epochs=10, warmup_batches=20)
    first = ((model(x) * gain - y) ** 2).mean().item()
    for _ in range(200):
        loss = ((model(x) * gain - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_batch()
    assert loss.item() < first / 100
    assert opt.last_grad_norm is not None and opt.last_grad_norm > 0


def test_batched_same_shape_parameters_equal_separate_updates():
    torch.manual_seed(3)
    a0, b0 = torch.randn(4, 3), torch.randn(4, 3) * 5
    grads = [(torch.randn(4, 3), torch.randn(4, 3)) for _ in range(9)]
    a, b = torch.nn.Parameter(a0.clone()), torch.nn.Parameter(b0.clone())
    joint = ScaledAdam([("a", a), ("b", b)], lr=0.1, size_update_period=2)
    sa, sb = torch.nn.Parameter(a0.clone()), torch.nn.Parameter(b0.clone())
    alone_a = ScaledAdam([("a", sa)], lr=0.1, size_update_period=2)
    alone_b = ScaledAdam([("b", sb)], lr=0.1, size_update_period=2)
    for ga, gb in grads:
        a.grad, b.grad, sa.grad, sb.grad = ga.clone(), gb.clone(), ga.clone(), gb.clone()
        joint.step()
        alone_a.step()
        alone_b.step()
    torch.testing.assert_close(a.detach(), sa.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(b.detach(), sb.detach(), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(a.detach(), a0)


def test_clipping_caps_an_outlier_gradient_and_names_the_dominant_parameter():
    torch.manual_seed(4)
    small = torch.nn.Parameter(torch.randn(8, 8))
    big = torch.nn.Parameter(torch.randn(3, 5))
    opt = ScaledAdam(
        [("enc.small", small), ("dec.big", big)], lr=0.01, clipping_scale=2.0, clipping_update_period=10
    )
    norms = []
    for call in range(12):  # call c runs with step == c; steps 1..10 fill the window, step 10 sets it
        small.grad, big.grad = torch.randn(8, 8), torch.randn(3, 5)
        opt.step()
        norms.append(opt.last_grad_norm)
        assert opt.last_clipping_scale == 1.0 or call >= 10
    threshold = 2.0 * sorted(norms[1:11])[5]

    state = opt.state[big]
    v_before = state["exp_avg_sq"][0].clone()
    rms_small = small.detach().pow(2).mean().sqrt()
    rms_big = state["param_rms"][0, 0, 0].clone()
    g_small, g_big = torch.randn(8, 8), 100.0 * torch.randn(3, 5)
    small.grad, big.grad = g_small.clone(), g_big.clone()
    opt.step()

    expected_norm = (
        ((g_small * opt.state[small]["param_rms"][0, 0, 0]).pow(2).sum() + (g_big * rms_big).pow(2).sum())
        .sqrt()
        .item()
    )
    assert rms_small > 0
    assert opt.last_grad_norm == pytest.approx(expected_norm, rel=1e-5)
    assert opt.last_grad_norm > 10 * threshold
    scale = opt.last_clipping_scale
    assert scale == pytest.approx(threshold / expected_norm, rel=1e-5)
    # the update consumed the clipped gradient: its update-space norm equals the threshold
    v_after = state["exp_avg_sq"][0]
    torch.testing.assert_close(v_after, 0.98 * v_before + 0.02 * (g_big * scale) ** 2, rtol=1e-5, atol=1e-12)
    name, share = opt.last_dominant_parameter
    assert name == "dec.big" and share > 0.99


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_gradient_is_zeroed_once_clipping_is_active(bad):
    torch.manual_seed(8)
    w = torch.nn.Parameter(torch.randn(4, 4))
    opt = ScaledAdam([("w", w)], lr=0.01, clipping_scale=2.0, clipping_update_period=4)
    for _ in range(5):  # the threshold is set at step 4
        w.grad = torch.randn(4, 4)
        opt.step()
    before = w.detach().clone()
    w.grad = torch.randn(4, 4)
    w.grad[0, 0] = bad
    opt.step()
    assert opt.last_clipping_scale == 0.0
    assert torch.isfinite(w).all()
    # only the decaying momentum moved the parameter: v was not polluted
    assert torch.isfinite(opt.state[w]["exp_avg_sq"]).all()
    assert not torch.equal(w.detach(), before)


def test_no_clipping_when_disabled_but_norm_is_reported():
    torch.manual_seed(5)
    w = torch.nn.Parameter(torch.randn(4, 4))
    opt = ScaledAdam([("w", w)], lr=0.01, clipping_scale=None, clipping_update_period=2)
    for k in range(6):
        w.grad = torch.randn(4, 4) * (1000.0 if k == 5 else 1.0)
        opt.step()
    assert opt.last_clipping_scale == 1.0
    assert opt.last_dominant_parameter is None
    assert opt.last_grad_norm > 100


def test_scalar_parameter_stays_within_scalar_max():
    s = torch.nn.Parameter(torch.tensor(9.5))
    opt = ScaledAdam([("s", s)], lr=1.0, scalar_lr_scale=1.0, scalar_max=10.0)
    for _ in range(50):
        s.grad = torch.tensor(-1.0)  # pushes s upwards
        opt.step()
        assert abs(s.item()) <= 10.0
    assert s.item() == pytest.approx(10.0)


class _Net(torch.nn.Module):
    """Two same-shape layers (batched together), biases, and a one-element gain."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(5, 5)
        self.b = torch.nn.Linear(5, 5)
        self.out = torch.nn.Linear(5, 2)
        self.gain = torch.nn.Parameter(torch.tensor(0.7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.b(torch.tanh(self.a(x))))) * self.gain


def _build(seed: int):
    torch.manual_seed(seed)
    net = _Net()
    opt = ScaledAdam(
        net.named_parameters(), lr=0.08, clipping_scale=2.0, clipping_update_period=6, size_update_period=2
    )
    sched = Eden(opt, lr_batches=10, lr_epochs=2, warmup_batches=5)
    return net, opt, sched


def _train(net, opt, sched, steps) -> list[float]:
    scales = []
    for k in steps:
        gen = torch.Generator().manual_seed(1000 + k)
        x = torch.randn(16, 5, generator=gen)
        y = torch.randn(16, 2, generator=gen) * (20.0 if k % 7 == 3 else 1.0)  # some clipped steps
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step_batch()
        scales.append(opt.last_clipping_scale)
        if k % 8 == 7:
            sched.step_epoch()
    return scales


def _snapshot(*objs) -> bytes:
    buf = io.BytesIO()
    torch.save([o.state_dict() for o in objs], buf)
    return buf.getvalue()


def test_state_dict_round_trip_resumes_bit_exactly():
    n, k = 20, 9
    net, opt, sched = _build(6)
    scales = _train(net, opt, sched, range(n))
    assert min(scales[k:]) < 1.0  # clipping happens after the resume point

    net1, opt1, sched1 = _build(6)
    _train(net1, opt1, sched1, range(k))
    saved = _snapshot(net1, opt1, sched1)
    net2, opt2, sched2 = _build(123)  # fresh objects, different initial weights
    for obj, sd in zip((net2, opt2, sched2), torch.load(io.BytesIO(saved))):
        obj.load_state_dict(sd)
    assert _train(net2, opt2, sched2, range(k, n)) == scales[k:]

    for (name, p), p2 in zip(net.named_parameters(), net2.parameters()):
        assert torch.equal(p, p2), name
    assert sched.get_last_lr() == sched2.get_last_lr()
    assert opt.last_grad_norm == opt2.last_grad_norm
    clip_state = [s for s in opt.state.values() if "model_norms" in s]
    clip_state2 = [s for s in opt2.state.values() if "model_norms" in s]
    assert len(clip_state) == 1
    assert clip_state[0]["model_norms"] == clip_state2[0]["model_norms"]
    assert clip_state[0]["num_clipped"] == clip_state2[0]["num_clipped"]

    # the check is sensitive: resuming the model alone (fresh optimizer state) diverges
    net3, opt3, sched3 = _build(6)
    net3.load_state_dict(torch.load(io.BytesIO(saved))[0])
    sched3.load_state_dict(torch.load(io.BytesIO(saved))[2])
    _train(net3, opt3, sched3, range(k, n))
    assert not torch.equal(net.a.weight, net3.a.weight)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lr": -0.1}, "lr"),
        ({"clipping_scale": 0.0}, "clipping_scale"),
        ({"betas": (0.99, 0.9)}, "betas"),
        ({"betas": (0.9,)}, "betas"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"scalar_lr_scale": 0.0}, "scalar_lr_scale"),
        ({"eps": -1.0}, "eps"),
        ({"param_min_rms": 5.0, "param_max_rms": 3.0}, "param_min_rms"),
        ({"scalar_max": float("inf")}, "scalar_max"),
        ({"size_update_period": 0}, "size_update_period"),
        ({"clipping_update_period": 2.5}, "clipping_update_period"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(kwargs, name):
    w = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=name):
        ScaledAdam([w], **kwargs)


def test_invalid_params_raise_value_error():
    with pytest.raises(ValueError, match="params"):
        ScaledAdam([])
    with pytest.raises(ValueError, match="params"):
        ScaledAdam(torch.nn.Parameter(torch.zeros(2)))
    with pytest.raises(ValueError, match="params"):
        ScaledAdam([{"lr": 0.1}])
    with pytest.raises(ValueError, match="lr"):
        ScaledAdam([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": -1.0}])


def test_named_param_groups_keep_names_and_options():
    net = _mlp(7)
    opt = ScaledAdam(
        [{"named_params": net[0].named_parameters(), "lr": 0.01}, {"params": net[2].parameters()}],
        lr=0.03,
    )
    assert opt.parameters_names == [["weight", "bias"], ["group1.param0", "group1.param1"]]
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.03]
