"""The optimizers: torch's fused Adam where it exists, the same update as the per-tensor loop."""
import pytest
import torch

from stylegan_t.training.optim import make_adam

SETTINGS = dict(lr=2e-3, betas=(0.0, 0.99), eps=1e-8)


def _params(device: str = "cpu") -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(shape, device=device)) for shape in ((64, 32, 3, 3), (64,), (7, 5))]


def test_cpu_parameters_get_the_fused_kernel_with_the_same_updates():
    fused, plain = _params(), _params()
    opt_fused, opt_plain = make_adam(fused, **SETTINGS), torch.optim.Adam(plain, **SETTINGS)
    assert opt_fused.defaults["fused"] is True
    for _ in range(3):
        for a, b in zip(fused, plain):
            g = torch.randn_like(a)
            a.grad, b.grad = g.clone(), g.clone()
        opt_fused.step()
        opt_plain.step()
    assert not torch.equal(fused[0], _params()[0])  # the updates moved the weights
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_devices_without_a_fused_kernel_get_torchs_default():
    opt = make_adam(_params("meta"), **SETTINGS)
    assert not opt.defaults["fused"]


def test_fused_optimizer_state_round_trips_through_a_plain_one():
    """A checkpoint's Adam state written by the per-tensor loop (earlier releases) loads into the fused one."""
    plain_params, fused_params = _params(), _params()
    plain = torch.optim.Adam(plain_params, **SETTINGS)
    for p in plain_params:
        p.grad = torch.ones_like(p)
    plain.step()
    fused = make_adam(fused_params, **SETTINGS)
    fused.load_state_dict(plain.state_dict())
    for p in fused_params:
        p.grad = torch.ones_like(p)
    fused.step()
    assert float(fused.state[fused_params[0]]["step"]) == pytest.approx(2.0)
