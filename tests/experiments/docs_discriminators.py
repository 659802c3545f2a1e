"""docs/extending.md's discriminator examples, verbatim, and the StyleGANT subclasses that train them.

Tests name these classes by ``model.module`` (e.g. ``docs_discriminators:ResNetGAN``) with ``--code`` pointing
at this folder, exactly as a user's own experiment module is used.
"""
import torch
from torch import nn

from stylegan_t.augment import DiffAugment
from stylegan_t.constants import IMAGENET_MEAN, IMAGENET_STD
from stylegan_t.images import pretrained_input
from stylegan_t.models.discriminator import DiscHead, FeatureNetwork, ProjectedDiscriminator
from stylegan_t.training import StyleGANT


# --- another feature network (a timm ResNet) -------------------------------------------------------------
class ResNetFeatures(FeatureNetwork):
    """Stages 1 and 2 of a timm ResNet, each feature map flattened into tokens."""

    def __init__(self, name="resnet10t", input_size=64):
        super().__init__()
        import timm

        self.net = timm.create_model(name, pretrained=False, features_only=True, out_indices=(1, 2))
        self.input_size = input_size
        self.channels = {f"stage{i}": ch for i, ch in zip((1, 2), self.net.feature_info.channels())}
        self.freeze()

    def forward(self, x):
        x = pretrained_input(x, size=self.input_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)  # ImageNet-trained
        return {name: f.flatten(2) for name, f in zip(self.channels, self.net(x))}


class ResNetD(ProjectedDiscriminator):
    def build_feature_network(self):
        return ResNetFeatures()


# --- another augmentation --------------------------------------------------------------------------------
class FlipThenDiffAugment(nn.Module):
    def __init__(self, policy):
        super().__init__()
        self.diffaug = DiffAugment(policy)

    def forward(self, x):
        return self.diffaug(x.flip(-1))


class FlipD(ProjectedDiscriminator):
    def build_augment(self):
        return FlipThenDiffAugment(self.config.diffaug)


# --- an extra head ---------------------------------------------------------------------------------------
class GlobalHeadD(ProjectedDiscriminator):
    """Adds a head on the mean token of the last tap: one more logit per image."""

    def head_channels(self):
        channels = super().head_channels()
        return {**channels, "global": channels[list(channels)[-1]]}

    def build_head(self, name, channels):
        if name == "global":
            return DiscHead(channels, self.c_dim, cmap_dim=self.config.cmap_dim, kernel_size=1)
        return super().build_head(name, channels)

    def extract_features(self, x):
        features = super().extract_features(x)
        features["global"] = features[list(self.feature_network.channels)[-1]].mean(dim=2, keepdim=True)
        return features


# --- combining the logits differently --------------------------------------------------------------------
class MeanPerHeadD(ProjectedDiscriminator):
    def combine_logits(self, logits):
        return torch.stack([logits[name].mean(dim=1) for name in self.heads], dim=1)   # [B, num_heads]


# --- using a subclass in training ------------------------------------------------------------------------
class ResNetGAN(StyleGANT):
    def build_discriminator(self):
        return ResNetD(self.generator.c_dim, self.recipe.model.discriminator)

    @classmethod
    def pretrained_files(cls, recipe):
        files = super().pretrained_files(recipe)
        files.pop("model.discriminator.feature_network.weights", None)   # ResNetD brings its own backbone
        return files


class FlipGAN(StyleGANT):
    def build_discriminator(self):
        return FlipD(self.generator.c_dim, self.recipe.model.discriminator)


class GlobalHeadGAN(StyleGANT):
    def build_discriminator(self):
        return GlobalHeadD(self.generator.c_dim, self.recipe.model.discriminator)


class MeanPerHeadGAN(StyleGANT):
    def build_discriminator(self):
        return MeanPerHeadD(self.generator.c_dim, self.recipe.model.discriminator)
