"""A discriminator experiment that is in no doc: its own backbone (a small random CNN with global pooling) and
its own heads (an MLP per tap on pooled features, projected on the text condition). Used by the CLI tests with
nothing but ``model.module`` and ``--code``."""
from torch import nn

from stylegan_t.models.discriminator import FeatureNetwork, ProjectedDiscriminator
from stylegan_t.training import StyleGANT


class PooledCNN(FeatureNetwork):
    """Two strided conv stages (random, stored by value in checkpoints); each map average-pooled to 2x2 = 4 tokens."""

    def __init__(self, widths=(12, 24)):
        super().__init__()
        layers, c_in = [], 3
        for width in widths:
            layers.append(nn.Sequential(nn.Conv2d(c_in, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2)))
            c_in = width
        self.stages = nn.ModuleList(layers)
        self.input_size = None
        self.channels = {f"s{i}": w for i, w in enumerate(widths)}
        self.freeze()

    def forward(self, x):
        out = {}
        for name, stage in zip(self.channels, self.stages):
            x = stage(x)
            out[name] = nn.functional.adaptive_avg_pool2d(x, 2).flatten(2)
        return out


class MLPHead(nn.Module):
    """Tokens [B, C, N] -> logits [B, N]: a two-layer MLP per token, projected on the mapped text condition."""

    def __init__(self, channels, c_dim, cmap_dim=16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, 32), nn.LeakyReLU(0.2), nn.Linear(32, cmap_dim))
        self.cmap = nn.Linear(c_dim, cmap_dim)

    def forward(self, tokens, c):
        h = self.mlp(tokens.transpose(1, 2))                 # [B, N, cmap]
        return (h * self.cmap(c).unsqueeze(1)).sum(dim=2) / h.shape[2] ** 0.5


class PooledMLPD(ProjectedDiscriminator):
    def build_feature_network(self):
        return PooledCNN()

    def build_head(self, name, channels):
        return MLPHead(channels, self.c_dim)


class PooledMLPGAN(StyleGANT):
    def build_discriminator(self):
        return PooledMLPD(self.generator.c_dim, self.recipe.model.discriminator)

    @classmethod
    def pretrained_files(cls, recipe):
        files = super().pretrained_files(recipe)
        files.pop("model.discriminator.feature_network.weights", None)
        return files

    def discriminator_trainable_modules(self):
        return list(self.discriminator.heads.values())
