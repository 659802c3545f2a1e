"""Feature networks of the projected discriminator: taps, preprocessing, offline weights, freezing, independence."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from stylegan_t.models.discriminator import (
    ConvFeatureNetwork,
    DiscriminatorConfig,
    ProjectedDiscriminator,
    ViTFeatureNetwork,
    build_feature_network,
    feature_network_preset,
)
from stylegan_t.models.discriminator.feature_networks import IMAGENET_MEAN, IMAGENET_STD
from stylegan_t.utils.local_files import MissingWeightsError

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_vit(weights=None) -> ViTFeatureNetwork:
    return build_feature_network(feature_network_preset("vit-tiny", weights="random" if weights is None else str(weights)))


@pytest.fixture(scope="module")
def vit() -> ViTFeatureNetwork:
    torch.manual_seed(0)
    return tiny_vit()


def test_taps_add_the_class_token_to_patch_tokens_in_tap_order(vit):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        feats = vit(x)
        # Independent path: timm's own intermediates (un-normed block outputs) for blocks 1 and 3.
        inter = vit.vit.forward_intermediates(
            vit.preprocess(x), indices=[1, 3], return_prefix_tokens=True, norm=False, output_fmt="NLC", intermediates_only=True
        )
        h0 = vit.vit._pos_embed(vit.vit.patch_embed(vit.preprocess(x)))
    assert list(feats) == ["0", "1", "2"] and vit.channels == {"0": 32, "1": 32, "2": 32}
    assert all(f.shape == (2, 32, 16) for f in feats.values())  # [B, C, (32/8)^2]
    for name, (tokens, prefix) in zip(("0", "1"), inter):
        assert torch.allclose(feats[name], (tokens + prefix[:, :1]).transpose(1, 2), atol=1e-6)
    assert torch.allclose(feats["2"], (h0[:, 1:] + h0[:, :1]).transpose(1, 2))  # patch tap comes last


def test_preprocess_is_area_resize_and_imagenet_normalization(vit):
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = (F.avg_pool2d((x + 1) / 2, 2) - mean) / std  # area resize 64 -> 32 = 2x2 mean
    assert torch.allclose(vit.preprocess(x), expected, atol=1e-6)
    same = torch.rand(1, 3, 32, 32)
    assert torch.allclose(vit.preprocess(same), ((same + 1) / 2 - mean) / std)


def test_default_is_dino_vits16_with_five_taps():
    fn = build_feature_network(dataclasses.replace(DiscriminatorConfig().feature_network, weights="random"))  # structure only
    assert fn.vit.default_cfg["architecture"] == "vit_small_patch16_224" and fn.input_size == 224
    assert fn.channels == {str(i): 384 for i in range(5)} and fn.taps == [2, 5, 8, 11]
    assert sum(p.numel() for p in fn.parameters()) == 21_665_664
    with torch.no_grad():
        feats = fn(torch.zeros(1, 3, 32, 32))
    assert [tuple(f.shape) for f in feats.values()] == [(1, 384, 196)] * 5


def test_weights_load_from_local_files_through_the_real_loader(tmp_path, vit):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in vit.vit.state_dict().items()}
    torch.save(state, tmp_path / "plain.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    x = torch.rand(2, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        ref = vit(x)
        for name in ("plain.pth", "wrapped.pt", "w.safetensors"):
            torch.manual_seed(123)  # a different random init, overwritten by the file
            loaded = tiny_vit(tmp_path / name)
            assert all(torch.equal(a, b) for a, b in zip(ref.values(), loaded(x).values())), name
        # ... and through the discriminator's config.
        D = ProjectedDiscriminator(4, feature_network=feature_network_preset("vit-tiny", weights=str(tmp_path / "plain.pth")))
        assert torch.equal(D.feature_network.vit.pos_embed, vit.vit.pos_embed)


def test_missing_weights_file_gives_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="never downloads") as err:
        tiny_vit(tmp_path / "dino_vits16.pth")
    assert str(tmp_path / "dino_vits16.pth") in str(err.value) and "timm.create_model" in str(err.value)


def test_weights_that_do_not_fit_list_the_bad_keys(tmp_path, vit):
    state = dict(vit.vit.state_dict())
    del state["norm.weight"]
    state["extra.weight"] = torch.zeros(3)
    state["pos_embed"] = torch.zeros(1, 5, 32)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError) as err:
        tiny_vit(tmp_path / "bad.pth")
    assert all(key in str(err.value) for key in ("norm.weight", "extra.weight", "pos_embed"))


def test_frozen_always_eval_no_hooks_gradient_reaches_input(vit):
    vit.train()
    assert not vit.training and not any(m.training for m in vit.modules())
    assert not any(p.requires_grad for p in vit.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in vit.modules())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    sum(f.square().mean() for f in vit(x).values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in vit.parameters())


def test_two_feature_networks_do_not_share_activations():
    torch.manual_seed(1)
    a = tiny_vit()
    torch.manual_seed(2)
    b = tiny_vit()
    x, y = torch.randn(2, 3, 32, 32), torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        first = a(x)
        b(y)  # an interleaved call on other data
        again, other = a(x), b(x)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.allclose(first["0"], other["0"])


def test_conv_feature_network_is_seeded_frozen_and_loadable(tmp_path):
    a, b = ConvFeatureNetwork(widths=[8, 16], input_size=16, seed=3), ConvFeatureNetwork(widths=[8, 16], input_size=16, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not any(p.requires_grad for p in a.parameters())
    with torch.no_grad():
        feats = a(torch.randn(2, 3, 40, 40))
    assert a.channels == {"0": 8, "1": 16} and [tuple(f.shape) for f in feats.values()] == [(2, 8, 64), (2, 16, 16)]
    torch.save(a.state_dict(), tmp_path / "conv.pt")
    c = ConvFeatureNetwork(widths=[8, 16], input_size=16, seed=4, weights=tmp_path / "conv.pt")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_presets_are_fresh_copies():
    a = feature_network_preset("vit-tiny")
    a.taps.append(0)
    assert feature_network_preset("vit-tiny").taps == [1, 3]
    assert feature_network_preset("conv-tiny", input_size=8).input_size == 8
    with pytest.raises(KeyError, match="known"):
        feature_network_preset("vit-huge")
    with pytest.raises(ValueError, match="taps"):
        ViTFeatureNetwork("vit_small_patch16_224", taps=[7], timm_kwargs=feature_network_preset("vit-tiny").timm_kwargs)


def test_open_clip_image_tower_as_feature_network(tmp_path):
    """``kind: open_clip`` loads a CLIP folder offline, taps its blocks like the ViT, stays frozen, feeds D."""
    import copy

    from helpers import TINY_CLIP_CONFIG, write_tiny_clip_dir

    from stylegan_t.models.discriminator import FeatureNetworkConfig
    from stylegan_t.models.open_clip_loader import load_open_clip

    config = copy.deepcopy(TINY_CLIP_CONFIG)
    config["model_cfg"]["vision_cfg"].update(layers=2, patch_size=8)
    spec = write_tiny_clip_dir(tmp_path / "clip", config=config)
    net = build_feature_network(FeatureNetworkConfig(kind="open_clip", model=spec, taps=[0, 1]))
    assert net.channels == {"0": 32, "1": 32, "2": 32} and net.input_size == 32
    # The loaded tower is the saved one, not a fresh init.
    clip, _ = load_open_clip(spec, None)
    assert torch.equal(net.visual.conv1.weight, clip.visual.conv1.weight)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)  # any size: area-resized to 32
    features = net(x * 2 - 1)
    assert all(f.shape == (2, 32, 16) for f in features.values())  # 4x4 patch tokens, channels first
    # Tap 1 differs from tap 0 (another block), and the patch tap is the embedding before any block.
    assert not torch.allclose(features["0"], features["1"])
    sum(f.square().mean() for f in features.values()).backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is None for p in net.parameters())
    d_config = DiscriminatorConfig(feature_network=FeatureNetworkConfig(kind="open_clip", model=spec, taps=[0, 1]))
    D = ProjectedDiscriminator(c_dim=8, config=d_config)
    assert D(torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 8)).shape[0] == 4
    with pytest.raises(ValueError, match="taps"):
        build_feature_network(FeatureNetworkConfig(kind="open_clip", model=spec, taps=[5]))


def test_open_clip_resnet_image_tower_as_feature_network(tmp_path):
    """A CLIP with a ResNet image tower (``pretrain-clip --model stylegan-t-tiny-conv``) feeds D through the same
    ``kind: open_clip``: taps after its stages, the patch tap after its stem, in eval mode (batch norm frozen)."""
    from helpers import write_tiny_clip_dir

    from stylegan_t.models.discriminator import FeatureNetworkConfig, OpenCLIPResNetFeatureNetwork
    from stylegan_t.models.open_clip_loader import load_open_clip, shipped_config

    spec = write_tiny_clip_dir(tmp_path / "clip", config={"model_cfg": shipped_config("stylegan-t-tiny-conv")})
    net = build_feature_network(FeatureNetworkConfig(kind="open_clip", model=spec, taps=[0, 1]))
    assert isinstance(net, OpenCLIPResNetFeatureNetwork)
    assert net.channels == {"0": 64, "1": 128, "2": 16} and net.input_size == 32
    clip, _ = load_open_clip(spec, None)
    assert torch.equal(net.visual.conv1.weight, clip.visual.conv1.weight)  # the saved tower, not a fresh init
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    features = net(x * 2 - 1)
    assert {k: tuple(f.shape) for k, f in features.items()} == {"0": (4, 64, 64), "1": (4, 128, 16), "2": (4, 16, 64)}
    # The stage taps are the tower's own stages applied to its stem (eval-mode batch norm: a sample does not
    # depend on the rest of the batch).
    clip.visual.eval()
    with torch.no_grad():
        stem = clip.visual.stem(net.preprocess(x * 2 - 1))
        assert torch.allclose(features["2"], stem.flatten(2), atol=1e-6)
        assert torch.allclose(features["1"], clip.visual.layer2(clip.visual.layer1(stem)).flatten(2), atol=1e-5)
        assert torch.allclose(net(x[:1] * 2 - 1)["0"], features["0"][:1], atol=1e-5)
    sum(f.square().mean() for f in features.values()).backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is None for p in net.parameters())
    net.train()
    assert not net.visual.training
    D = ProjectedDiscriminator(8, DiscriminatorConfig(feature_network=FeatureNetworkConfig(kind="open_clip", model=spec, taps=[0, 1])))
    assert D(torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 8)).shape == (4, 64 + 16 + 64)
    with pytest.raises(ValueError, match="stages"):
        build_feature_network(FeatureNetworkConfig(kind="open_clip", model=spec, taps=[4]))


def test_extra_feature_network_adds_heads_beside_the_first():
    """``extra_feature_network``: a second frozen network whose taps get heads too, named with an ``x`` prefix,
    logits after the first network's; both frozen, gradients reach the images through both."""
    from stylegan_t.models.discriminator import FeatureNetworkConfig, StackedFeatureNetwork

    first = feature_network_preset("vit-tiny")
    extra = FeatureNetworkConfig(kind="conv", weights="random", conv_widths=[8, 16], input_size=16, seed=3)
    torch.manual_seed(0)
    D = ProjectedDiscriminator(8, DiscriminatorConfig(feature_network=first, extra_feature_network=extra))
    assert isinstance(D.feature_network, StackedFeatureNetwork)
    assert list(D.heads) == ["0", "1", "2", "x0", "x1"]
    assert D.feature_network.input_size == 32  # the crop follows the first network
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    features = D.extract_features(x)
    alone = build_feature_network(extra)(x)
    assert torch.equal(features["x0"], alone["0"]) and torch.equal(features["x1"], alone["1"])
    logits = D(x, torch.randn(2, 8))
    assert logits.shape == (2, sum(f.shape[2] for f in features.values()))
    logits.sum().backward()
    assert x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in D.feature_network.parameters())
    assert D.feature_network_spec() is None  # two networks: stored by value, not by one file's reference


def test_extra_feature_network_config_errors_name_the_key(tmp_path):
    from helpers import write_tiny_clip_dir

    from stylegan_t.errors import RecipeError
    from stylegan_t.models.open_clip_loader import shipped_config

    with pytest.raises(RecipeError, match=r"model\.discriminator\.extra_feature_network\.kind"):
        DiscriminatorConfig(extra_feature_network={"kind": "resnet"})
    with pytest.raises(RecipeError, match=r"model\.discriminator\.extra_feature_network has unknown keys \['tap'\]"):
        DiscriminatorConfig(extra_feature_network={"kind": "conv", "tap": [0]})
    assert list(DiscriminatorConfig().feature_networks()) == ["model.discriminator.feature_network"]
    # taps the built network does not have (a ResNet tower has 4 stages): one line naming the key, at build time
    spec = write_tiny_clip_dir(tmp_path / "clip", config={"model_cfg": shipped_config("stylegan-t-tiny-conv")})
    with pytest.raises(RecipeError, match=r"^model\.discriminator\.extra_feature_network: taps \[2, 5, 8, 11\] must"):
        ProjectedDiscriminator(8, feature_network=feature_network_preset("conv-tiny"),
                               extra_feature_network={"kind": "open_clip", "model": spec})  # DINO's default taps
