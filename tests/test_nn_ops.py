"""Building blocks against naive references (upfirdn, modulated conv, equalized lr, bias_act)."""
import math

import pytest
import torch
import torch.nn.functional as F

from stylegan_t.nn import MLP, EqualizedLinear, bias_act, downsample2d, modulated_conv2d, setup_filter, upfirdn2d, upsample2d


def naive_upfirdn(x, f, up, down, pad, gain):
    """Loop reference: zero-insert, pad/crop, true convolution, decimate."""
    n, c, h, w = x.shape
    z = torch.zeros(n, c, h * up, w * up, dtype=torch.float64)
    z[:, :, ::up, ::up] = x.double()
    x0, x1, y0, y1 = pad
    big = torch.zeros(n, c, h * up + max(y0, 0) + max(y1, 0), w * up + max(x0, 0) + max(x1, 0), dtype=torch.float64)
    big[:, :, max(y0, 0) : max(y0, 0) + h * up, max(x0, 0) : max(x0, 0) + w * up] = z
    big = big[:, :, max(-y0, 0) : big.shape[2] - max(-y1, 0), max(-x0, 0) : big.shape[3] - max(-x1, 0)]
    fh, fw = f.shape
    fk = f.double() * gain
    oh, ow = big.shape[2] - fh + 1, big.shape[3] - fw + 1
    out = torch.zeros(n, c, oh, ow, dtype=torch.float64)
    for i in range(oh):
        for j in range(ow):
            patch = big[:, :, i : i + fh, j : j + fw]
            out[:, :, i, j] = (patch * fk.flip([0, 1])).sum(dim=[2, 3])
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 1, 1, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 1, (-1, 2, 0, -1))])
def test_upfirdn2d_matches_naive_reference(up, down, pad):
    x = torch.randn(2, 3, 6, 5)
    f = setup_filter([1, 2, 3, 1])  # asymmetric: checks the flip
    ours = upfirdn2d(x, f, up=up, down=down, padding=pad, gain=up * up)
    ref = naive_upfirdn(x, f, up, down, pad, up * up)
    assert ours.shape == ref.shape
    assert torch.allclose(ours.double(), ref, atol=1e-5)


def test_resampling_sizes_and_dc_gain():
    f = setup_filter([1, 3, 3, 1])
    assert torch.allclose(f.sum(), torch.tensor(1.0)) and f.shape == (4, 4)
    x = torch.ones(1, 2, 8, 8)
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    # A constant image stays constant away from the zero-padded border.
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12), atol=1e-6)
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2), atol=1e-6)


def naive_modconv(x, weight, styles, demodulate, up, f):
    """Per-sample modulate/demodulate then a plain (transposed) conv."""
    outs = []
    for b in range(x.shape[0]):
        w = weight * styles[b].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        if up == 1:
            outs.append(F.conv2d(x[b : b + 1], w, padding=weight.shape[-1] // 2))
        else:
            y = F.conv_transpose2d(x[b : b + 1], w.transpose(0, 1), stride=2)
            outs.append(upfirdn2d(y, f, padding=[1, 1, 1, 1], gain=4))
    return torch.cat(outs)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_fused_unfused_and_reference_agree(up, demodulate):
    f = setup_filter([1, 3, 3, 1])
    x, w, s = torch.randn(3, 8, 6, 6), torch.randn(5, 8, 3, 3), torch.randn(3, 8)
    noise = torch.randn(3, 1, 6 * up, 6 * up)
    fused = modulated_conv2d(x, w, s, up=up, padding=1, resample_filter=f, demodulate=demodulate, fused=True, noise=noise)
    unfused = modulated_conv2d(x, w, s, up=up, padding=1, resample_filter=f, demodulate=demodulate, fused=False, noise=noise)
    ref = naive_modconv(x, w, s, demodulate, up, f) + noise
    assert fused.shape == (3, 5, 6 * up, 6 * up)
    assert (fused - unfused).abs().max() < 1e-5
    assert (fused - ref).abs().max() < 1e-4


def test_modulated_conv_is_safe_in_half_precision():
    x = torch.randn(2, 16, 8, 8).bfloat16()
    w, s = torch.randn(16, 16, 3, 3) * 100, torch.randn(2, 16) * 100  # large: the sum of squares would overflow fp16
    y = modulated_conv2d(x, w, s, padding=1, fused=True)
    ref = modulated_conv2d(x.float(), w, s, padding=1, fused=True)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()
    assert (y.float() - ref).abs().max() / ref.abs().max() < 0.05


def test_equalized_linear_scaling():
    layer = EqualizedLinear(16, 4, lr_multiplier=0.01, bias_init=1.0)
    assert torch.allclose(layer.bias, torch.full([4], 100.0))  # stored as init / lr_mul
    x = torch.randn(5, 16)
    expected = x @ (layer.weight * 0.01 / 4).t() + layer.bias * 0.01
    assert torch.allclose(layer(x), expected, atol=1e-5)
    mlp = MLP([16, 16, 16], activation="lrelu", lr_multiplier=0.01)
    assert mlp.fc0.activation == "lrelu" and mlp.fc1.activation == "linear"
    with pytest.raises(ValueError):
        EqualizedLinear(4, 4, activation="swish")(torch.randn(1, 4))


def test_bias_act_gain_and_clamp():
    x = torch.tensor([[-2.0, 1.0, 300.0]])
    y = bias_act(x, torch.tensor([1.0]).expand(3), dim=1, act="lrelu", clamp=256 * math.sqrt(2))
    assert torch.allclose(y, torch.tensor([[-0.2 * math.sqrt(2), 2 * math.sqrt(2), 256 * math.sqrt(2)]]))


@pytest.mark.parametrize("kernel_size,tokens", [(1, 5), (9, 5), (9, 12)])
def test_spectral_conv1d_matmul_path_matches_conv1d_and_its_gradients(kernel_size, tokens):
    """On the CPU the heads' conv runs as unfold + matmul with a hand-written spectral-norm backward: the same
    outputs and gradients (weight and input) as ``conv1d`` on ``W / (u^T W v)`` differentiated by autograd."""
    from stylegan_t.nn.spectral import spectral_conv1d

    torch.manual_seed(0)
    conv = spectral_conv1d(24, 16, kernel_size).eval()  # eval: no power iteration, both paths see the same u, v
    sn = conv.parametrizations.weight
    x = torch.randn(3, 24, tokens, requires_grad=True)
    y = conv(x)
    grad = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad(y, [x, sn.original, conv.bias], grad)

    w0 = sn.original.detach().clone().requires_grad_(True)
    x0 = x.detach().clone().requires_grad_(True)
    u, v = sn[0]._u, sn[0]._v
    mode = "circular" if kernel_size > 1 else "constant"
    pad = kernel_size // 2
    ref = F.conv1d(F.pad(x0, (pad, pad), mode=mode), w0 / torch.dot(u, torch.mv(w0.flatten(1), v)), conv.bias)
    rx, rw, rb = torch.autograd.grad(ref, [x0, w0, conv.bias], grad)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    for ours, theirs in ((gx, rx), (gw, rw), (gb, rb)):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    assert gw.stride() == sn.original.stride()  # DDP buckets expect the parameter's layout


def test_generator_input_is_nchw_and_cpu_convs_pick_their_layout():
    """G's Fourier-feature input is NCHW-contiguous (a permuted view would carry channels-last strides into every
    conv, converting each weight on every call); on the CPU the modulated conv goes channels-last only where the
    activations outweigh the weights and no backward will run through it (mkldnn's channels-last backward is the
    slower one), with the same result either way."""
    from stylegan_t.nn.fourier import FourierFeatures
    from stylegan_t.nn.modconv import _cpu_layout

    x = FourierFeatures(8, 16, size=4, sampling_rate=4)(torch.randn(2, 8))
    assert x.shape == (2, 16, 4, 4) and x.is_contiguous()
    big_weight, small_weight = torch.empty(64, 64, 3, 3), torch.empty(8, 8, 3, 3)
    act = torch.empty(2, 64, 8, 8)
    assert _cpu_layout(act, big_weight) == torch.contiguous_format
    assert _cpu_layout(act, small_weight) == torch.channels_last
    assert _cpu_layout(act.requires_grad_(), small_weight) == torch.contiguous_format  # training: NCHW
    assert _cpu_layout(act.detach(), small_weight.requires_grad_()) == torch.contiguous_format
    with torch.no_grad():
        assert _cpu_layout(act.requires_grad_(), small_weight) == torch.channels_last
    torch.manual_seed(0)
    for c, res in ((64, 4), (8, 32)):  # weight-heavy and activation-heavy
        inp, w, s = torch.randn(2, c, res, res), torch.randn(c, c, 3, 3), torch.randn(2, c)
        ref = F.conv2d(inp * s[:, :, None, None], w, padding=1)
        ref = ref * (s.square() @ w.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()[:, :, None, None]
        out = modulated_conv2d(inp, w, s, padding=1, fused=False)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
