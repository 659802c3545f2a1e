"""Subclassing the projected discriminator through its extension points; mirrors docs/extending.md."""
import pytest
import torch
from torch import nn

from stylegan_t.augment import DiffAugment
from stylegan_t.models.discriminator import DiscHead, FeatureNetwork, ProjectedDiscriminator, feature_network_preset

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


# --- docs/extending.md: another feature network (a timm ResNet) -----------------------------------------
class ResNetFeatures(FeatureNetwork):
    """Stages 1 and 2 of a timm ResNet, each feature map flattened into tokens."""

    def __init__(self, name: str = "resnet10t", input_size: int = 64) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(name, pretrained=False, features_only=True, out_indices=(1, 2))
        self.input_size = input_size
        self.channels = {f"stage{i}": ch for i, ch in zip((1, 2), self.net.feature_info.channels())}
        self.freeze()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        return {name: f.flatten(2) for name, f in zip(self.channels, self.net(x))}


class ResNetD(ProjectedDiscriminator):
    def build_feature_network(self) -> FeatureNetwork:
        return ResNetFeatures()


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
class FlipThenDiffAugment(nn.Module):
    def __init__(self, policy: str) -> None:
        super().__init__()
        self.diffaug = DiffAugment(policy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.diffaug(x.flip(-1))


class FlipD(ProjectedDiscriminator):
    def build_augment(self) -> nn.Module:
        return FlipThenDiffAugment(self.config.diffaug)


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
class GlobalHeadD(ProjectedDiscriminator):
    """Adds a head on the mean token of the last tap: one more logit per image."""

    def head_channels(self) -> dict[str, int]:
        channels = super().head_channels()
        return {**channels, "global": channels[list(channels)[-1]]}

    def build_head(self, name: str, channels: int) -> nn.Module:
        if name == "global":
            return DiscHead(channels, self.c_dim, cmap_dim=self.config.cmap_dim, kernel_size=1)
        return super().build_head(name, channels)

    def extract_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = super().extract_features(x)
        features["global"] = features[list(self.feature_network.channels)[-1]].mean(dim=2, keepdim=True)
        return features


def test_add_a_head():
    D = GlobalHeadD(4, feature_network=feature_network_preset("vit-tiny"), diffaug="").train()
    assert list(D.heads) == ["0", "1", "2", "global"]
    logits = D(torch.randn(8, 3, 32, 32), torch.randn(8, 4))
    assert logits.shape == (8, 3 * 16 + 1)
    logits[:, -1].sum().backward()
    assert D.heads["global"].cls.parametrizations.weight.original.grad is not None
    assert all(p.grad is None or not p.grad.any() for p in D.heads["0"].parameters())  # only the new logit used


# --- a different combination of the per-head logits -----------------------------------------------------
class MeanPerHeadD(ProjectedDiscriminator):
    def combine_logits(self, logits: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([logits[name].mean(dim=1) for name in self.heads], dim=1)


def test_change_how_logits_combine():
    D = MeanPerHeadD(4, feature_network=feature_network_preset("conv-tiny")).eval()
    with torch.no_grad():
        assert D(torch.randn(2, 3, 16, 16), torch.randn(2, 4)).shape == (2, 2)
