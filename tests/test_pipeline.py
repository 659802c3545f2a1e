"""StyleGANTPipeline: per-seed determinism, batch-size independence, truncation and interpolation (issue 5)."""
import subprocess
import sys

import pytest
import torch

from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig
from stylegan_t.pipeline import StyleGANTPipeline, image_grid, seed_latent, slerp, to_uint8

PROMPTS = ["a red cube on a table", "a photo of a dog"]


def make_generator(tiny_clip: str, seed: int = 0) -> Generator:
    """A tiny random generator whose noise, residual branches and truncation all change the output."""
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip)))
    with torch.no_grad():
        for name, p in G.synthesis.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
            elif name.endswith("gamma"):
                p.fill_(0.5)
        G.mapping.x_avg.normal_()
    return G.eval()


@pytest.fixture(scope="module")
def pipe(tiny_clip):
    return StyleGANTPipeline(make_generator(tiny_clip), device="cpu")


def test_deterministic_per_seed_and_batch_size_independent(pipe):
    kw = dict(truncation_psi=0.8, output_type="tensor")
    a = pipe(PROMPTS, seeds=[3, 1, 4], batch_size=6, **kw)
    assert a.shape == (6, 3, 16, 16) and a.dtype == torch.float32
    assert torch.equal(a, pipe(PROMPTS, seeds=[3, 1, 4], batch_size=6, **kw))  # same call: bitwise
    # Other batch sizes, orders and companions: same image per (prompt, seed) up to float rounding.
    b = pipe(PROMPTS, seeds=[3, 1, 4], batch_size=1, **kw)
    assert (a - b).abs().max() < 1e-5
    c = pipe([PROMPTS[1]], seeds=[4, 3], batch_size=4, **kw)
    assert (c[0] - a[5]).abs().max() < 1e-5 and (c[1] - a[3]).abs().max() < 1e-5
    # Prompt-major order, and different seeds / prompts give different images.
    assert (a[0] - a[1]).abs().max() > 1e-2 and (a[0] - a[3]).abs().max() > 1e-2
    # z is a function of the seed alone (the latents StyleGANT.sample uses).
    assert torch.equal(pipe.latents([3])[0], torch.randn(64, generator=torch.Generator().manual_seed(3)))


def test_pil_output_matches_tensor(pipe):
    tensor = pipe(PROMPTS[0], seeds=[0, 1], output_type="tensor", batch_size=2)
    images = pipe(PROMPTS[0], seeds=[0, 1], batch_size=2)
    assert len(images) == 2 and images[0].size == (16, 16) and images[0].mode == "RGB"
    expected = to_uint8(tensor).permute(0, 2, 3, 1)
    assert all(torch.equal(torch.as_tensor(list(im.getdata()), dtype=torch.uint8).reshape(16, 16, 3), e) for im, e in zip(images, expected))
    grid = image_grid(images + images[:1], cols=2)
    assert grid.size == (32, 32)


def test_random_noise_is_per_sample_deterministic(pipe):
    rng = torch.get_rng_state()
    r1 = pipe(PROMPTS[0], seeds=[0, 1, 2], noise_mode="random", output_type="tensor", batch_size=3)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is left alone
    r2 = pipe(PROMPTS[0], seeds=[2, 0], noise_mode="random", output_type="tensor", batch_size=1)
    assert (r1[2] - r2[0]).abs().max() < 1e-5 and (r1[0] - r2[1]).abs().max() < 1e-5
    const = pipe(PROMPTS[0], seeds=[0], noise_mode="const", output_type="tensor")
    none = pipe(PROMPTS[0], seeds=[0], noise_mode="none", output_type="tensor")
    assert (r1[0] - const[0]).abs().max() > 1e-3 and (none[0] - const[0]).abs().max() > 1e-3


def test_truncation_acts_on_z_only(pipe):
    # psi = 0 replaces x = f(z) by its average: every seed gives the same image, the prompt still matters.
    t = pipe(PROMPTS, seeds=[0, 7], truncation_psi=0.0, output_type="tensor")
    assert (t[0] - t[1]).abs().max() < 1e-5 and (t[0] - t[2]).abs().max() > 1e-2


def test_zip_pairing(pipe):
    z = pipe(PROMPTS, seeds=[5, 6], pairing="zip", output_type="tensor")
    p = pipe(PROMPTS, seeds=[5, 6], output_type="tensor")
    assert z.shape[0] == 2 and (z[0] - p[0]).abs().max() < 1e-5 and (z[1] - p[3]).abs().max() < 1e-5
    with pytest.raises(ValueError, match="zip"):
        pipe(PROMPTS, seeds=[1, 2, 3], pairing="zip")


def test_prompt_interpolation_keeps_x_and_hits_endpoints(pipe):
    kw = dict(truncation_psi=0.7, output_type="tensor")
    frames = pipe.interpolate_prompts(PROMPTS[0], PROMPTS[1], 11, 5, batch_size=5, **kw)
    assert frames.shape == (5, 3, 16, 16)
    a = pipe(PROMPTS[0], seeds=11, **kw)[0]
    b = pipe(PROMPTS[1], seeds=11, **kw)[0]
    assert (frames[0] - a).abs().max() < 1e-5 and (frames[-1] - b).abs().max() < 1e-5
    exact = pipe.interpolate_prompts(PROMPTS[0], PROMPTS[1], 11, 3, batch_size=1, **kw)
    assert torch.equal(exact[0], a) and torch.equal(exact[-1], b)  # same batch shape: bitwise
    # Paper Sec. 4.3: w = [x, lerp(t0, t1, a)] with x = f(z) kept (not re-normalized text).
    G = pipe.generator
    with torch.no_grad():
        z = seed_latent(11, 64)[None]
        w0 = G.mapping(z, [PROMPTS[0]], truncation_psi=0.7)
        w1 = G.mapping(z, [PROMPTS[1]], truncation_psi=0.7)
        mid = G.synthesis(w0.lerp(w1, 0.5), noise_mode="const")[0]  # x parts are equal, so this lerps t only
    assert torch.equal(w0[..., :64], w1[..., :64])
    assert (frames[2] - mid).abs().max() < 1e-5
    assert (frames[2] - a).abs().max() > 1e-3


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_seed_interpolation_endpoints(pipe, method):
    frames = pipe.interpolate_seeds(PROMPTS[0], 2, 9, 4, method=method, output_type="tensor")
    direct = pipe(PROMPTS[0], seeds=[2, 9], output_type="tensor", batch_size=1)
    assert frames.shape[0] == 4
    assert (frames[0] - direct[0]).abs().max() < 1e-5 and (frames[-1] - direct[1]).abs().max() < 1e-5


def test_slerp_stays_on_the_sphere():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    out = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(out.norm(dim=1), torch.ones(5)) and torch.equal(out[0], a) and torch.equal(out[-1], b)


def test_argument_errors(pipe):
    with pytest.raises(ValueError, match="steps"):
        pipe.interpolate_seeds(PROMPTS[0], 0, 1, 1)
    with pytest.raises(ValueError, match="noise_mode"):
        pipe(PROMPTS[0], seeds=0, noise_mode="bogus")
    with pytest.raises(ValueError, match="output_type"):
        pipe(PROMPTS[0], seeds=0, output_type="numpy")
    with pytest.raises(ValueError, match="seeds"):
        pipe(PROMPTS[0], seeds=[-1])
    with pytest.raises(ValueError, match="prompts"):
        pipe([], seeds=0)


def test_import_stays_light():
    # stylegan_t.load / StyleGANTPipeline are resolved lazily: importing the package does not import torch.
    subprocess.run([sys.executable, "-c", "import sys, stylegan_t; assert 'torch' not in sys.modules"], check=True)
    import stylegan_t

    assert stylegan_t.StyleGANTPipeline is StyleGANTPipeline and callable(stylegan_t.load)
