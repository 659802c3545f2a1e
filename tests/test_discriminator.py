"""Projected discriminator: shapes, gradients, spectral norm, local batch norm, heads, augmentation, independence."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from stylegan_t.augment import DiffAugment
from stylegan_t.errors import RecipeError
from stylegan_t.models.discriminator import DiscHead, DiscriminatorConfig, ProjectedDiscriminator, feature_network_preset
from stylegan_t.nn.local_batchnorm import LocalBatchNorm1d, local_group_sizes

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


TOKENS = 3 * 16  # vit-tiny: 2 block taps + the patch tap, 16 tokens each


def tiny_D(c_dim: int = 8, **overrides) -> ProjectedDiscriminator:
    return ProjectedDiscriminator(c_dim, feature_network=feature_network_preset("vit-tiny"), **overrides)


def sn_convs(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv1d)]


@pytest.mark.parametrize("size", [(32, 32), (48, 48), (23, 40)])
def test_logits_shape_for_any_resolution(size):
    D = tiny_D().eval()
    with torch.no_grad():
        logits = D(torch.rand(3, 3, *size) * 2 - 1, torch.randn(3, 8))
    assert logits.shape == (3, TOKENS) and logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_gradients_reach_heads_and_image_never_the_feature_network():
    D = tiny_D().train()
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    D(x, torch.randn(4, 8)).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.heads.parameters())
    assert all(not p.requires_grad and p.grad is None for p in D.feature_network.parameters())
    trainable = {id(p) for p in D.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in D.heads.parameters()}


def test_spectral_norm_iterates_only_in_training():
    D = tiny_D(diffaug="")
    convs = sn_convs(D.heads)
    assert len(convs) == 3 * 3  # per head: conv k=1, conv k=9, cls
    u0 = [c.parametrizations.weight[0]._u.clone() for c in convs]
    x, c = torch.randn(4, 3, 32, 32), torch.randn(4, 8)
    with torch.no_grad():
        D.eval()
        a, b = D(x, c), D(x, c)
        assert torch.equal(a, b)
        assert all(torch.equal(c_.parametrizations.weight[0]._u, u) for c_, u in zip(convs, u0))
        D.train()
        D(x, c)
    assert all(not torch.equal(c_.parametrizations.weight[0]._u, u) for c_, u in zip(convs, u0))


def test_spectral_norm_converges_to_unit_spectral_norm():
    head = DiscHead(16, 4, kernel_size=9).train()
    with torch.no_grad():
        for _ in range(60):  # one power iteration per training forward (v then u, as the original)
            head(torch.randn(8, 16, 12), torch.randn(8, 4))
        head.eval()
        for conv in sn_convs(head):
            weight = conv.weight.reshape(conv.weight.shape[0], -1)
            assert torch.linalg.matrix_norm(weight, 2).item() == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_backward_matches_autograd_for_a_conv2d():
    """A subclass may spectral-normalize its own Conv2d (docs/extending.md): its weight gradient can arrive
    channels-last, and the hand-written backward must give what autograd derives from ``W / (u^T W v)``."""
    from torch.nn.utils.parametrize import register_parametrization

    from stylegan_t.nn.spectral import SpectralNorm

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    register_parametrization(conv, "weight", SpectralNorm(conv.weight))
    conv.eval()  # fixed u, v: the reference below uses the same ones
    x = torch.randn(4, 8, 8, 8).to(memory_format=torch.channels_last)
    conv(x).square().mean().backward()
    sn = conv.parametrizations.weight[0]
    w = conv.parametrizations.weight.original.detach().clone().requires_grad_(True)
    ref_w = w / torch.dot(sn._u, torch.mv(w.flatten(1), sn._v))
    F.conv2d(x, ref_w, conv.bias.detach(), padding=1).square().mean().backward()
    assert torch.allclose(conv.parametrizations.weight.original.grad, w.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("tokens", [1, 2, 4, 9])
def test_circular_head_conv_over_fewer_tokens_than_its_padding(tokens):
    """A head's kernel-9 circular conv on a deep tap with 1, 2 or 4 tokens (a ResNet tower's last stages) wraps
    around as often as needed: each output token sums ``w[j] x[(n + j - 4) mod N]``, as on a long sequence."""
    from stylegan_t.nn.spectral import spectral_conv1d

    torch.manual_seed(0)
    conv = spectral_conv1d(6, 5, 9).eval()
    x = torch.randn(3, 6, tokens)
    w = conv.weight.detach()
    ref = torch.stack([sum(w[:, :, j] @ x[:, :, (n + j - 4) % tokens].T for j in range(9)).T + conv.bias.detach()
                       for n in range(tokens)], dim=2)
    assert torch.allclose(conv(x), ref, atol=1e-5)
    index = torch.arange(-4, tokens + 4) % tokens
    assert torch.equal(conv._padded(x), x[..., index])


def test_discriminator_on_every_stage_of_a_resnet_tower(tmp_path):
    """``taps: [0, 1, 2, 3]`` of a ResNet image tower: heads on 8×8, 4×4, 2×2 and 1×1 maps (and the stem) train."""
    from helpers import write_tiny_clip_dir

    from stylegan_t.models.discriminator import FeatureNetworkConfig
    from stylegan_t.models.open_clip_loader import shipped_config

    spec = write_tiny_clip_dir(tmp_path / "clip", config={"model_cfg": shipped_config("stylegan-t-tiny-conv")})
    D = ProjectedDiscriminator(8, DiscriminatorConfig(feature_network=FeatureNetworkConfig(kind="open_clip", model=spec,
                                                                                           taps=[0, 1, 2, 3])))
    logits = D(torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, 8))
    assert logits.shape == (8, 64 + 16 + 4 + 1 + 64)
    logits.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.heads.parameters() if p.requires_grad)


def test_local_batch_norm_groups_by_eight():
    bn = LocalBatchNorm1d(3)
    x = torch.randn(16, 3, 5)
    y = bn(x)
    x2 = x.clone()
    x2[12] += 100.0  # only the second group of 8 sees it
    y2 = bn(x2)
    assert torch.equal(y[:8], y2[:8]) and not torch.allclose(y[8:], y2[8:])
    for group in (x[:8], x[8:]):  # biased variance over the 8 samples and the tokens, eps 1e-5
        ref = (group - group.mean(dim=(0, 2), keepdim=True)) / torch.sqrt(group.var(dim=(0, 2), unbiased=False, keepdim=True) + 1e-5)
        assert torch.allclose(bn(group), ref, atol=1e-6)
    assert torch.allclose(y[8:], bn(x[8:]), atol=1e-6)
    bn.eval()  # no running statistics: eval behaves the same
    assert torch.equal(bn(x), y)


def test_local_batch_norm_group_layout_and_dtypes():
    # Like the original: ceil(B/8) contiguous groups of B/G samples.
    assert local_group_sizes(16, 8) == [8, 8] and local_group_sizes(12, 8) == [6, 6] and local_group_sizes(4, 8) == [4]
    assert local_group_sizes(24, 8) == [8, 8, 8] and local_group_sizes(9, 8) == [8, 1]  # 9: the original fails
    bn = LocalBatchNorm1d(4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 3.0]))
    x = torch.randn(12, 4, 7) * 3 + 5
    y = bn(x)
    plain = (y - bn.bias[None, :, None]) / bn.weight[None, :, None]
    assert torch.allclose(plain[:6].mean(dim=(0, 2)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(plain[6:].var(dim=(0, 2), unbiased=False), torch.ones(4), atol=1e-4)
    with torch.no_grad():  # bf16 in: statistics in float32, one rounding to the input dtype at the end
        y16 = bn(x.bfloat16())
        assert y16.dtype == torch.bfloat16 and torch.equal(y16, bn(x.bfloat16().float()).bfloat16())


def test_head_matches_the_spec_equations():
    torch.manual_seed(0)
    head = DiscHead(16, 6, cmap_dim=64, kernel_size=9).eval()
    x, c = torch.randn(4, 16, 10), torch.randn(4, 6)

    def block(block, h):
        w = block.conv.weight  # spectrally normalized weight (eval: stored u, v)
        h = F.conv1d(F.pad(h, (w.shape[-1] // 2,) * 2, mode="circular"), w, block.conv.bias)
        mean, var = h.mean(dim=(0, 2), keepdim=True), h.var(dim=(0, 2), unbiased=False, keepdim=True)
        h = (h - mean) / torch.sqrt(var + 1e-5) * block.norm.weight[:, None] + block.norm.bias[:, None]
        return F.leaky_relu(h, 0.2)

    with torch.no_grad():
        h = block(head.main[0], x)
        h = (block(head.main[1].fn, h) + h) / math.sqrt(2)
        out = F.conv1d(h, head.cls.weight, head.cls.bias)  # [B, 64, N]
        cmap = c @ (head.cmapper.weight / math.sqrt(6)).t() + head.cmapper.bias  # equalized lr, gain 1/sqrt(c_dim)
        expected = (out * cmap[:, :, None]).sum(dim=1) / 8
        assert torch.allclose(head(x, c), expected, atol=1e-5)
    with pytest.raises(ValueError, match="conditional"):
        head(x, None)


def test_unconditional_discriminator():
    D = tiny_D(c_dim=0).eval()
    assert not hasattr(D.heads["0"], "cmapper") and D.heads["0"].cls.out_channels == 1
    with torch.no_grad():
        assert D(torch.randn(2, 3, 32, 32)).shape == (2, TOKENS)


def test_augmentation_and_crop_only_in_training():
    D = tiny_D(p_crop=1.0)
    assert isinstance(D.augment_pipe, DiffAugment) and D.augment_pipe.policy == ["color", "translation", "cutout"]
    plain = tiny_D(diffaug="", p_crop=0.0)
    plain.load_state_dict(D.state_dict())
    x, c = torch.rand(4, 3, 48, 48) * 2 - 1, torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(D.eval()(x, c), plain.eval()(x, c))  # eval: no augmentation, no crop
        D.train()
        assert D.augment(x).shape == (4, 3, 32, 32)  # crop to the feature network's 32 (paper: 224)
        assert not torch.allclose(D(x, c), plain.train()(x, c))


def test_two_discriminators_in_one_process_are_independent():
    torch.manual_seed(1)
    D1 = tiny_D().eval()
    torch.manual_seed(2)
    D2 = tiny_D().eval()
    x, c = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    with torch.no_grad():
        a1 = D1(x, c)
        D2(torch.randn(5, 3, 32, 32), torch.randn(5, 8))  # interleaved call on other data
        a2 = D1(x, c)
        b = D2(x, c)
    assert torch.equal(a1, a2) and not torch.allclose(a1, b)


def test_runs_under_bf16_autocast():
    D = tiny_D(diffaug="").train()
    x, c = torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, 8)
    with torch.no_grad():
        ref = D.eval()(x, c)
    D.train()
    x.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = D(x, c)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
    logits.mean().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in D.heads.parameters())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        approx = D.eval()(x, c)
    assert (approx - ref).abs().max() < 0.1 * ref.abs().max()


def test_config_dicts_overrides_and_omegaconf():
    cfg = {"feature_network": {"kind": "conv", "weights": "random", "conv_widths": [8, 16], "input_size": 16}, "diffaug": "translation"}
    D = ProjectedDiscriminator(4, cfg, cmap_dim=32, p_crop=0.0)
    assert D.config.cmap_dim == 32 and D.heads["1"].cmapper.out_features == 32 and D.augment_pipe.policy == ["translation"]
    assert set(D.heads) == {"0", "1"}
    with pytest.raises(RecipeError, match=r"unknown keys \['cmapdim'\]"):
        ProjectedDiscriminator(4, {"cmapdim": 3})
    structured = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DiscriminatorConfig), {"feature_network": {"kind": "conv"}}))
    assert isinstance(structured, DiscriminatorConfig) and structured.feature_network.kind == "conv"


def test_logits_under_conditions_share_one_pass_with_the_same_values_and_gradients():
    """Real images under their own and a wrong caption: one feature and head pass, the same logits and
    head gradients as two separate passes (each from the same state, since spectral norm iterates per call)."""
    torch.manual_seed(0)
    D = tiny_D(diffaug="").train()
    x, c, wrong = torch.randn(8, 3, 32, 32), torch.randn(8, 8), torch.randn(8, 8)
    twin = copy.deepcopy(D)
    shared = D.logits_under_conditions(x, [c, wrong])
    separate = [copy.deepcopy(twin)(x, c), copy.deepcopy(twin)(x, wrong)]
    for a, b in zip(shared, separate):
        torch.testing.assert_close(a, b)
    # the gradient of a loss on both: shared pass against the sum of two separate passes
    (shared[0].mean() + shared[1].relu().mean()).backward()
    one, two = copy.deepcopy(twin), copy.deepcopy(twin)
    one(x, c).mean().backward()
    two(x, wrong).relu().mean().backward()
    for p, p1, p2 in zip(D.heads.parameters(), one.heads.parameters(), two.heads.parameters()):
        torch.testing.assert_close(p.grad, p1.grad + p2.grad, rtol=1e-4, atol=1e-6)


def test_logits_under_conditions_keep_an_overridden_run_heads():
    class Scaled(ProjectedDiscriminator):
        def run_heads(self, features, c):
            return {name: 2 * logits for name, logits in super().run_heads(features, c).items()}

    torch.manual_seed(0)
    D = Scaled(8, feature_network=feature_network_preset("vit-tiny"), diffaug="").eval()
    x, c = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    with torch.no_grad():
        (shared,) = D.logits_under_conditions(x, [c])
        torch.testing.assert_close(shared, D(x, c))
        plain = D.combine_logits(ProjectedDiscriminator.run_heads(D, D.extract_features(x), c))
        torch.testing.assert_close(shared, 2 * plain)
