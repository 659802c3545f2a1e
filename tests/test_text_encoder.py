"""Offline open_clip loading: local-dir, file path, tag in a weights folder, clear errors."""
import pytest
import torch

from stylegan_t.models import TextEncoder
from stylegan_t.models.open_clip_loader import resolve_pretrained
from stylegan_t.utils.local_files import MissingWeightsError


def test_local_dir_encoder_is_frozen_and_normalized(tiny_clip):
    enc = TextEncoder(tiny_clip)
    assert not hasattr(enc.model, "visual")
    assert enc.dim == 32 and not any(p.requires_grad for p in enc.parameters())
    feats = enc(["a red circle", "", "a painting of a fox"])
    assert feats.shape == (3, 32) and not feats.requires_grad
    assert torch.allclose(feats.norm(dim=1), torch.ones(3), atol=1e-5)


def test_trainable_encoder_gets_gradients(tiny_clip):
    enc = TextEncoder(tiny_clip, frozen=False)
    enc(["hello"]).sum().backward()
    assert enc.model.token_embedding.weight.grad is not None


def test_missing_local_dir_weights_give_one_clear_error(tmp_path, tiny_clip):
    folder = tmp_path / "empty_clip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text("{}")
    with pytest.raises(MissingWeightsError, match="no weights file"):
        TextEncoder(f"local-dir:{folder}")
    with pytest.raises(MissingWeightsError, match="open_clip_config.json"):
        TextEncoder(f"local-dir:{tmp_path / 'nowhere'}")


def test_file_path_and_tag_resolution(tmp_path, tiny_clip):
    with pytest.raises(MissingWeightsError, match="ViT-L-14-quickgelu") as err:
        TextEncoder("ViT-L-14-quickgelu", "openai", weights_dir=tmp_path)
    assert "ViT-L-14-quickgelu-openai.safetensors" in str(err.value) and "docs/weights.md" in str(err.value)
    with pytest.raises(MissingWeightsError, match="not found at"):
        resolve_pretrained("ViT-B-32", str(tmp_path / "weights.pt"))
    (tmp_path / "ViT-B-32-mytag.pt").write_bytes(b"")
    assert resolve_pretrained("ViT-B-32", "mytag", weights_dir=tmp_path).endswith("ViT-B-32-mytag.pt")
