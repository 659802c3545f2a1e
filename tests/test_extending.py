"""Subclassing the projected discriminator through its extension points: docs/extending.md's examples, which live
in tests/experiments/docs_discriminators.py (the module the training tests name by ``model.module``)."""
import sys
from pathlib import Path

import pytest
import torch

from stylegan_t.augment import DiffAugment
from stylegan_t.models.discriminator import ProjectedDiscriminator, feature_network_preset

sys.path.insert(0, str(Path(__file__).with_name("experiments")))
from docs_discriminators import FlipD, GlobalHeadD, MeanPerHeadD, ResNetD  # noqa: E402

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


# --- docs/extending.md: another feature network (a timm ResNet) -----------------------------------------
def test_swap_in_another_feature_network():
    D = ResNetD(8, diffaug="").train()
    x = torch.randn(4, 3, 48, 48, requires_grad=True)
    logits = D(x, torch.randn(4, 8))
    assert list(D.heads) == ["stage1", "stage2"] and D.heads["stage1"].channels == 64
    assert logits.shape == (4, 16 * 16 + 8 * 8)  # strides 4 and 8 of a 64x64 input
    logits.mean().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in D.feature_network.parameters())
    assert all(p.grad is not None for p in D.heads.parameters())


# --- docs/extending.md: another augmentation ------------------------------------------------------------
def test_change_the_augmentation():
    cfg = dict(feature_network=feature_network_preset("conv-tiny"), diffaug="", p_crop=0.0)
    D = FlipD(4, **cfg)
    plain = ProjectedDiscriminator(4, **cfg)
    plain.load_state_dict(D.state_dict())
    x, c = torch.randn(8, 3, 16, 16), torch.randn(8, 4)
    with torch.no_grad():
        assert torch.equal(D.train()(x, c), plain.train()(x.flip(-1), c))  # training: flipped
        assert torch.equal(D.eval()(x, c), plain.eval()(x, c))  # eval: no augmentation
    assert isinstance(FlipD(4, feature_network=feature_network_preset("conv-tiny")).augment_pipe.diffaug, DiffAugment)


# --- docs/extending.md: an extra head -------------------------------------------------------------------
def test_add_a_head():
    D = GlobalHeadD(4, feature_network=feature_network_preset("vit-tiny"), diffaug="").train()
    assert list(D.heads) == ["0", "1", "2", "global"]
    logits = D(torch.randn(8, 3, 32, 32), torch.randn(8, 4))
    assert logits.shape == (8, 3 * 16 + 1)
    logits[:, -1].sum().backward()
    assert D.heads["global"].cls.parametrizations.weight.original.grad is not None
    assert all(p.grad is None or not p.grad.any() for p in D.heads["0"].parameters())  # only the new logit used


# --- a different combination of the per-head logits -----------------------------------------------------
def test_change_how_logits_combine():
    D = MeanPerHeadD(4, feature_network=feature_network_preset("conv-tiny")).eval()
    with torch.no_grad():
        assert D(torch.randn(2, 3, 16, 16), torch.randn(2, 4)).shape == (2, 2)
