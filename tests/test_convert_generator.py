"""Fidelity against the original StyleGAN-T generator (../shared/fixtures/official-32)."""
import json

import pytest
import torch

from stylegan_t.convert import StateMismatchError, generator_from_official


@pytest.fixture(scope="module")
def converted(official_dir):
    cfg = json.loads((official_dir / "config.json").read_text())
    state = torch.load(official_dir / "official_G_state_dict.pt")
    G = generator_from_official(
        state,
        img_resolution=cfg["img_resolution"],
        channel_base=cfg["channel_base"],
        channel_max=cfg["channel_max"],
        num_res_blocks=cfg["num_res_blocks"],
        text_encoder=f"local-dir:{official_dir / 'tiny_clip'}",
        z_dim=cfg["z_dim"],
    )
    return G.eval()


def test_mapping_reproduces_official_ws(converted, official_io):
    with torch.no_grad():
        ws = converted.mapping(official_io["z"], official_io["prompts"], truncation_psi=official_io["truncation_psi"])
        ws_c = converted.mapping(official_io["z"], official_io["c"], truncation_psi=1.0)
    assert (ws - official_io["ws"]).abs().max() < 1e-5
    assert (ws_c - official_io["ws_from_c_psi1"]).abs().max() < 1e-5


def test_checkpoint_text_encoder_weights_are_used(converted, official_io, official_dir):
    # The fixture's tiny_clip/ weights differ from the checkpoint's on purpose.
    with torch.no_grad():
        c = converted.mapping.encode_text(official_io["prompts"])
    assert (c - official_io["c"]).abs().max() < 1e-5


@pytest.mark.parametrize("noise_mode", ["const", "none"])
@pytest.mark.parametrize("fused", [True, False])
def test_synthesis_reproduces_official_images(converted, official_io, noise_mode, fused):
    with torch.no_grad():
        img = converted.synthesis(official_io["ws"], noise_mode=noise_mode, fused_modconv=fused)
    assert (img - official_io[f"img_{noise_mode}"]).abs().max() < 1e-4


def test_wrong_keys_are_listed(official_dir):
    state = torch.load(official_dir / "official_G_state_dict.pt")
    state["synthesis.b8.extra.weight"] = torch.zeros(1)
    del state["synthesis.b16.conv0.bias"]
    with pytest.raises(StateMismatchError) as err:
        generator_from_official(
            state, img_resolution=32, channel_base=2048, channel_max=128, num_res_blocks=1,
            text_encoder=f"local-dir:{official_dir / 'tiny_clip'}",
        )
    assert "synthesis.b8.extra.weight" in str(err.value) and "synthesis.b16.conv0.bias" in str(err.value)
    with pytest.raises(StateMismatchError):  # a 32x32 checkpoint into a 64x64 generator
        generator_from_official(
            torch.load(official_dir / "official_G_state_dict.pt"), img_resolution=64, channel_base=2048,
            channel_max=128, num_res_blocks=1, text_encoder=f"local-dir:{official_dir / 'tiny_clip'}",
        )
