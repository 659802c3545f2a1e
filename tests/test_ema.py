"""EMA generator: the original release's half-life/ramp-up formula and the update rule."""
import pytest
import torch

from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig
from stylegan_t.training.ema import GeneratorEMA, ema_beta


def test_beta_matches_spec_formula():
    # Paper batch 2048: half-life 640 kimg; ramp-up caps it at 5% of images seen.
    assert ema_beta(batch_size=2048, nimg=10**9, ema_kimg=2048 * 10 / 32) == pytest.approx(0.5 ** (2048 / 640_000))
    assert ema_beta(batch_size=2048, nimg=100_000, ema_kimg=640) == pytest.approx(0.5 ** (2048 / 5_000))
    assert ema_beta(batch_size=32, nimg=0, ema_kimg=10) == pytest.approx(0.0)  # first step copies
    assert ema_beta(batch_size=32, nimg=0, ema_kimg=10, rampup=None) == pytest.approx(0.5 ** (32 / 10_000))


def test_update_lerps_parameters_and_copies_buffers():
    G = Generator(GeneratorConfig(img_resolution=8, preset="tiny", text_encoder=TextEncoderConfig(model="", text_dim=8)))
    ema = GeneratorEMA(G)
    ema.train()
    assert not ema.module.training and not any(p.requires_grad for p in ema.parameters())
    before = [p.clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        G.mapping.x_avg.fill_(3.0)
    ema.update(G, beta=0.75)
    for p_old, p_ema, p in zip(before, ema.module.parameters(), G.parameters()):
        assert torch.allclose(p_ema, 0.25 * p + 0.75 * p_old, atol=1e-5)
    assert torch.equal(ema.module.mapping.x_avg, G.mapping.x_avg)
