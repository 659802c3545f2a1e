"""The projected discriminator: frozen feature network, trainable heads, DiffAugment."""
from .config import DiscriminatorConfig, FeatureNetworkConfig
from .feature_networks import ConvFeatureNetwork, FeatureNetwork, ViTFeatureNetwork
from .heads import ConvBlock, DiscHead, ResidualBlock
from .projected import ProjectedDiscriminator

__all__ = [
    "DiscriminatorConfig",
    "FeatureNetworkConfig",
    "FeatureNetwork",
    "ViTFeatureNetwork",
    "ConvFeatureNetwork",
    "DiscHead",
    "ConvBlock",
    "ResidualBlock",
    "ProjectedDiscriminator",
]
