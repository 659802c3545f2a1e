"""The projected discriminator (paper Sec. 3.2): frozen DINO feature network, trainable heads."""
from .config import (
    DEFAULT_DIFFAUG,
    FEATURE_NETWORK_PRESETS,
    DiscriminatorConfig,
    FeatureNetworkConfig,
    feature_network_preset,
)
from .feature_networks import (
    ConvFeatureNetwork,
    FeatureNetwork,
    OpenCLIPFeatureNetwork,
    OpenCLIPResNetFeatureNetwork,
    StackedFeatureNetwork,
    ViTFeatureNetwork,
    build_feature_network,
    load_weights_file,
    open_clip_feature_network,
)
from .heads import ConvBlock, DiscHead, ResidualBlock
from .projected import ProjectedDiscriminator

__all__ = [
    "DEFAULT_DIFFAUG",
    "FEATURE_NETWORK_PRESETS",
    "DiscriminatorConfig",
    "FeatureNetworkConfig",
    "feature_network_preset",
    "FeatureNetwork",
    "ViTFeatureNetwork",
    "OpenCLIPFeatureNetwork",
    "OpenCLIPResNetFeatureNetwork",
    "open_clip_feature_network",
    "ConvFeatureNetwork",
    "StackedFeatureNetwork",
    "build_feature_network",
    "load_weights_file",
    "DiscHead",
    "ConvBlock",
    "ResidualBlock",
    "ProjectedDiscriminator",
]
