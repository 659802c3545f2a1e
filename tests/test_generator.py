"""Generator contract: shapes, gradients, truncation, noise, round trips, train modes, precision."""
import pytest
import torch

from stylegan_t.models import Generator, GeneratorConfig, SynthesisNetwork, TextEncoderConfig
from stylegan_t.models.config import GENERATOR_PRESETS


def tiny_config(resolution=16, tiny_clip=None, **kw):
    te = TextEncoderConfig(model=tiny_clip) if tiny_clip else TextEncoderConfig(model="", text_dim=16)
    return GeneratorConfig(img_resolution=resolution, preset="tiny", text_encoder=te, **kw)


@pytest.mark.parametrize("resolution", [8, 16, 32, 64, 128, 256, 512])
def test_every_resolution_runs(resolution):
    G = Generator(tiny_config(resolution)).eval()
    z, c = torch.randn(1, G.z_dim), torch.nn.functional.normalize(torch.randn(1, G.c_dim), dim=1)
    with torch.no_grad():
        img = G(z, c, noise_mode="const")
    assert img.shape == (1, 3, resolution, resolution) and torch.isfinite(img).all()
    assert G.num_ws == G.synthesis.num_ws and G.w_dim == G.z_dim + G.c_dim


def test_prompts_through_text_encoder(tiny_clip):
    G = Generator(tiny_config(16, tiny_clip)).eval()
    ws = G.mapping(torch.randn(2, 64), ["a red circle", "a blue square"])
    assert ws.shape == (2, G.num_ws, 64 + 32)
    t = ws[:, 0, 64:]
    assert torch.allclose(t.norm(dim=1), torch.ones(2), atol=1e-5)  # L2-normalized text part
    assert not torch.allclose(t[0], t[1])
    assert (ws == ws[:, :1]).all()  # the same w broadcast to every layer
    with pytest.raises(TypeError):
        G.mapping(torch.randn(1, 64), "a single string")
    with pytest.raises(ValueError, match="latents"):
        G.mapping(torch.randn(3, 64), ["one", "two"])


def test_text_scale_multiplies_only_the_text_part_of_w():
    G1 = Generator(tiny_config()).eval()
    G3 = Generator(tiny_config(text_scale=3.0)).eval()
    G3.load_state_dict(G1.state_dict())  # no new parameters: the same weights fit both
    z, c = torch.randn(2, 64), torch.nn.functional.normalize(torch.randn(2, 16), dim=1)
    w1, w3 = G1.mapping(z, c), G3.mapping(z, c)
    assert torch.equal(w1[..., :64], w3[..., :64])
    assert torch.allclose(w3[..., 64:], 3 * w1[..., 64:])
    assert GeneratorConfig.from_dict(G3.config.to_dict()).text_scale == 3.0  # stored with checkpoints
    with pytest.raises(ValueError, match="text_scale"):
        Generator(tiny_config(text_scale=0.0))


def test_gradients_reach_every_trainable_parameter(tiny_clip):
    G = Generator(tiny_config(16, tiny_clip)).train()
    params = G.set_train_mode("all")
    img = G(torch.randn(2, 64), ["a", "b"])
    img.square().mean().backward()
    names = {id(p): n for n, p in G.named_parameters()}
    assert len(params) > 0
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0, names[id(p)]
    assert all(p.grad is None for p in G.text_encoder.parameters())


def test_truncation_psi_zero_gives_tracked_average():
    G = Generator(tiny_config()).train()
    before = G.mapping.x_avg.clone()
    G.mapping(torch.randn(8, 64), torch.randn(8, 16))  # training-mode forward updates x_avg
    assert not torch.equal(before, G.mapping.x_avg)
    G.eval()
    frozen = G.mapping.x_avg.clone()
    ws = G.mapping(torch.randn(4, 64), torch.randn(4, 16), truncation_psi=0.0)
    assert torch.equal(G.mapping.x_avg, frozen)  # eval forward leaves it alone
    assert torch.allclose(ws[:, :, :64], frozen.expand(4, G.num_ws, 64))


def test_noise_modes():
    G = Generator(tiny_config()).eval()
    for layer in G.synthesis.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.5)
    z, c = torch.randn(2, 64), torch.randn(2, 16)
    with torch.no_grad():
        const_a, const_b = G(z, c, noise_mode="const"), G(z, c, noise_mode="const")
        rand_a, rand_b = G(z, c, noise_mode="random"), G(z, c, noise_mode="random")
        none = G(z, c, noise_mode="none")
    assert torch.equal(const_a, const_b)
    assert not torch.equal(rand_a, rand_b) and not torch.equal(none, const_a)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, c, noise_mode="sometimes")


def test_fused_and_unfused_generator_agree():
    G = Generator(tiny_config(32)).eval()
    ws = G.mapping(torch.randn(2, 64), torch.randn(2, 16))
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const", fused_modconv=True)
        b = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    assert (a - b).abs().max() < 1e-5


def test_state_dict_round_trip_is_exact(tmp_path, tiny_clip):
    cfg = tiny_config(16, tiny_clip)
    G = Generator(cfg).eval()
    torch.save({"config": cfg.to_dict(), "state_dict": G.state_dict()}, tmp_path / "g.pt")
    blob = torch.load(tmp_path / "g.pt")  # weights_only: plain dicts and tensors
    G2 = Generator(GeneratorConfig.from_dict(blob["config"])).eval()
    G2.load_state_dict(blob["state_dict"])
    z = torch.randn(2, 64)
    with torch.no_grad():
        assert torch.equal(G(z, ["x", "y"], noise_mode="const"), G2(z, ["x", "y"], noise_mode="const"))


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="valid keys"):
        GeneratorConfig.from_dict({"img_resolution": 64, "chanel_base": 3})
    with pytest.raises(ValueError, match="power of two"):
        Generator(tiny_config(48))


def test_train_modes_select_parameters(tiny_clip):
    G = Generator(tiny_config(256, tiny_clip))
    freeze64 = {id(p) for p in G.trainable_parameters("freeze64")}
    for block in G.synthesis.blocks():
        inside = all(id(p) in freeze64 for p in block.parameters())
        assert inside == (block.resolution > 64)
        assert all(id(p) in freeze64 for p in block.torgb.parameters())
    assert not any(id(p) in freeze64 for p in G.mapping.parameters())
    te = G.set_train_mode("text_encoder")
    assert {id(p) for p in te} == {id(p) for p in G.text_encoder.parameters()}
    assert not any(p.requires_grad for p in G.synthesis.parameters())
    with pytest.raises(ValueError, match="train mode"):
        list(G.trainable_parameters("everything"))


def test_bf16_autocast_close_to_float32():
    G = Generator(tiny_config(32)).eval()
    z, c = torch.randn(2, 64), torch.randn(2, 16)
    with torch.no_grad():
        ref = G(z, c, noise_mode="const")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = G(z, c, noise_mode="const")
    assert torch.isfinite(half).all()
    assert (half.float() - ref).abs().max() / ref.abs().max() < 0.1


@pytest.mark.parametrize(
    "preset,resolution,millions",
    [("lite", 64, 74.6), ("lite", 256, 85.7), ("lite", 512, 87.0), ("full", 64, 975.6), ("full", 256, 1016.4), ("full", 512, 1020.5)],
)
def test_parameter_counts_match_spec(preset, resolution, millions):
    with torch.device("meta"):
        synthesis = SynthesisNetwork(w_dim=832, img_resolution=resolution, **GENERATOR_PRESETS[preset])
    count = sum(p.numel() for p in synthesis.parameters()) / 1e6
    assert count == pytest.approx(millions, rel=1e-3)
