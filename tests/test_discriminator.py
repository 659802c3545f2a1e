"""Projected discriminator: fixture fidelity, gradients, spectral norm, local BN, independence, weights."""
import pytest
import torch

from stylegan_t.convert import CheckpointMismatchError, discriminator_from_official
from stylegan_t.models.discriminator import DiscriminatorConfig, FeatureNetworkConfig, ProjectedDiscriminator, ViTFeatureNetwork
from stylegan_t.nn.local_batchnorm import LocalBatchNorm1d
from stylegan_t.utils.local_files import MissingWeightsError

TINY_VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=4, num_heads=2)


def tiny_config(**kw) -> DiscriminatorConfig:
    fn = FeatureNetworkConfig(model="vit_small_patch16_224", taps=[1, 3], timm_kwargs=dict(TINY_VIT), **kw)
    return DiscriminatorConfig(feature_network=fn)


@pytest.fixture(scope="module")
def official_D(official_dir):
    state = torch.load(official_dir / "official_D_heads_state_dict.pt")
    return discriminator_from_official(state, c_dim=64).eval()


def test_heads_reproduce_official_logits(official_D, official_io):
    with torch.no_grad():
        logits = official_D.combine_logits(official_D.run_heads(official_io["d_features"], official_io["c"]))
    ref = official_io["d_logits"]
    assert logits.shape == ref.shape == (4, 980)
    for head in range(5):
        err = (logits - ref)[:, head * 196 : (head + 1) * 196].abs().max()
        scale = ref[:, head * 196 : (head + 1) * 196].abs().max()
        if head == 1:
            # Logits up to 172: float32 rounding alone is ~2e-6 of the scale (float64 of the same math is 4e-4 off).
            assert err < 5e-6 * scale
        else:
            assert err < 1e-4


def test_converter_lists_bad_keys(official_dir):
    state = torch.load(official_dir / "official_D_heads_state_dict.pt")
    del state["heads.2.cls.bias"]
    state["heads.9.cls.bias"] = torch.zeros(64)
    with pytest.raises(CheckpointMismatchError) as err:
        discriminator_from_official(state, c_dim=64)
    assert "heads.2.cls.bias" in str(err.value) and "heads.9.cls.bias" in str(err.value)


def test_converter_loads_dino_keys_into_the_feature_network():
    D = ProjectedDiscriminator(8, tiny_config())
    heads = {}
    for k, v in D.heads.state_dict().items():  # our keys back to the original's naming
        k = k.replace("main.0.conv.", "main.0.0.").replace("main.0.norm.", "main.0.1.")
        k = k.replace("main.1.fn.conv.", "main.1.fn.0.").replace("main.1.fn.norm.", "main.1.fn.1.")
        k = k.replace("parametrizations.weight.original", "weight_orig")
        k = k.replace("parametrizations.weight.0._u", "weight_u").replace("parametrizations.weight.0._v", "weight_v")
        heads[f"heads.{k}"] = v
    dino = {f"dino.model.{k}": v + 1 for k, v in D.feature_network.vit.state_dict().items()}
    D2 = discriminator_from_official({**heads, **dino}, c_dim=8, config=tiny_config())
    assert torch.allclose(D2.feature_network.vit.pos_embed, D.feature_network.vit.pos_embed + 1)
    x, c = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    D.feature_network.vit.load_state_dict({k: v + 1 for k, v in D.feature_network.vit.state_dict().items()})
    with torch.no_grad():
        assert torch.allclose(D.eval()(x, c), D2.eval()(x, c), atol=1e-5)


def test_gradients_reach_heads_and_image_not_feature_network():
    D = ProjectedDiscriminator(8, tiny_config()).train()
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    logits = D(x, torch.randn(4, 8))
    assert logits.shape == (4, 16 * 3)  # 2 block taps + patch tap, 16 tokens each
    logits.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in D.heads.parameters())
    assert all(p.grad is None and not p.requires_grad for p in D.feature_network.parameters())


def test_spectral_norm_iterates_only_in_training():
    D = ProjectedDiscriminator(8, tiny_config())
    u = D.heads["0"].cls.parametrizations.weight[0]._u
    before = u.clone()
    D.eval()(torch.randn(2, 3, 32, 32), torch.randn(2, 8))
    assert torch.equal(u, before)
    D.train()(torch.randn(2, 3, 32, 32), torch.randn(2, 8))
    assert not torch.equal(u, before)


def test_local_batch_norm_groups_by_eight():
    bn = LocalBatchNorm1d(3)
    x = torch.randn(16, 3, 5)
    y = bn(x)
    x2 = x.clone()
    x2[12] += 100.0  # only the second group of 8 sees it
    y2 = bn(x2)
    assert torch.equal(y[:8], y2[:8]) and not torch.allclose(y[8:], y2[8:])
    group = x[:8]
    expected = (group - group.mean(dim=[0, 2], keepdim=True)) / (group.var(dim=[0, 2], unbiased=False, keepdim=True) + 1e-5).sqrt()
    assert torch.allclose(y[:8], expected, atol=1e-5)


def test_two_discriminators_are_independent():
    torch.manual_seed(1)
    D1 = ProjectedDiscriminator(8, tiny_config()).eval()
    torch.manual_seed(2)
    D2 = ProjectedDiscriminator(8, tiny_config()).eval()
    x, c = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    with torch.no_grad():
        a1 = D1(x, c)
        D2(torch.randn(2, 3, 32, 32), torch.randn(2, 8))  # interleaved call must not leak into D1
        a2 = D1(x, c)
        b = D2(x, c)
    assert torch.equal(a1, a2) and not torch.allclose(a1, b)


def test_feature_network_weights_from_files(tmp_path):
    vit = ViTFeatureNetwork("vit_small_patch16_224", taps=[1, 3], timm_kwargs=TINY_VIT)
    torch.save({"model": vit.vit.state_dict()}, tmp_path / "w.pth")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in vit.vit.state_dict().items()}, tmp_path / "w.safetensors")
    x = torch.randn(2, 3, 40, 40)
    for name in ("w.pth", "w.safetensors"):
        loaded = ViTFeatureNetwork("vit_small_patch16_224", tmp_path / name, taps=[1, 3], timm_kwargs=TINY_VIT)
        with torch.no_grad():
            assert all(torch.equal(a, b) for a, b in zip(vit(x).values(), loaded(x).values()))
    with pytest.raises(MissingWeightsError, match="dino_vits16.pth"):
        ViTFeatureNetwork("vit_small_patch16_224", tmp_path / "missing.pth", taps=[1, 3], timm_kwargs=TINY_VIT)


def test_vit_taps_add_class_token_to_patches():
    fn = ViTFeatureNetwork("vit_small_patch16_224", taps=[1, 3], timm_kwargs=TINY_VIT)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    feats = fn(x)
    assert list(feats) == ["0", "1", "2"] and all(f.shape == (2, 32, 16) for f in feats.values())
    h = fn.vit._pos_embed(fn.vit.patch_embed(fn.preprocess(x)))
    assert torch.allclose(feats["2"], (h[:, 1:] + h[:, :1]).transpose(1, 2))
