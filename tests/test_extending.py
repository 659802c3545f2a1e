"""Subclassing the projected discriminator through its documented extension points (docs/extending.md)."""
import torch
from torch import nn

from stylegan_t.models.discriminator import (
    ConvFeatureNetwork,
    DiscHead,
    DiscriminatorConfig,
    FeatureNetwork,
    FeatureNetworkConfig,
    ProjectedDiscriminator,
)


class ResNetFeatures(FeatureNetwork):
    """Another timm model (a tiny ResNet), stage outputs flattened into tokens."""

    def __init__(self) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(2, 3))
        self.channels = {f"stage{i}": ch for i, ch in zip((2, 3), self.net.feature_info.channels())}
        self.freeze()

    def forward(self, x):
        return {name: f.flatten(2) for name, f in zip(self.channels, self.net(x))}


class ResNetD(ProjectedDiscriminator):
    def build_feature_network(self):
        return ResNetFeatures()


def test_swap_in_another_feature_network():
    D = ResNetD(8, DiscriminatorConfig(diffaug="")).train()
    x = torch.randn(4, 3, 64, 64, requires_grad=True)
    logits = D(x, torch.randn(4, 8))
    assert set(D.heads) == {"stage2", "stage3"}
    assert logits.shape == (4, 8 * 8 + 4 * 4)  # 64 tokens at stride 8, 16 at stride 16
    logits.sum().backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is None for p in D.feature_network.parameters())


class FlipAugmentD(ProjectedDiscriminator):
    """Replaces DiffAugment by a horizontal flip of every image."""

    def augment(self, x):
        return x.flip(-1) if self.training else x


def test_change_the_augmentation():
    cfg = DiscriminatorConfig(feature_network=FeatureNetworkConfig(kind="conv", conv_widths=[8, 16], input_size=16))
    torch.manual_seed(0)
    D = FlipAugmentD(4, cfg)
    torch.manual_seed(0)
    plain = ProjectedDiscriminator(4, DiscriminatorConfig(feature_network=cfg.feature_network, diffaug="")).eval()
    plain.load_state_dict(D.state_dict())
    x, c = torch.randn(8, 3, 16, 16), torch.randn(8, 4)
    D.train()
    plain.train()
    with torch.no_grad():
        assert torch.allclose(D(x, c), plain(x.flip(-1), c), atol=1e-5)


class ExtraHeadD(ProjectedDiscriminator):
    """Adds a global head on the mean token of the last tap, with its own logit."""

    def __init__(self, c_dim, config=None):
        super().__init__(c_dim, config)
        last = list(self.feature_network.channels)[-1]
        self.heads["global"] = DiscHead(self.feature_network.channels[last], c_dim, kernel_size=1)
        self._global_source = last

    def extract_features(self, x):
        feats = super().extract_features(x)
        feats["global"] = feats[self._global_source].mean(dim=2, keepdim=True)
        return feats


def test_add_a_head():
    cfg = DiscriminatorConfig(feature_network=FeatureNetworkConfig(kind="conv", conv_widths=[8, 16], input_size=16), diffaug="")
    D = ExtraHeadD(4, cfg).train()
    base_tokens = 8 * 8 + 4 * 4
    logits = D(torch.randn(8, 3, 16, 16), torch.randn(8, 4))
    assert logits.shape == (8, base_tokens + 1)
    logits[:, -1].sum().backward()
    assert D.heads["global"].cls.parametrizations.weight.original.grad is not None


def test_conv_feature_network_is_seeded_and_frozen():
    a, b = ConvFeatureNetwork(widths=[8], input_size=16, seed=3), ConvFeatureNetwork(widths=[8], input_size=16, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training and isinstance(a.stages[0], nn.Sequential)
