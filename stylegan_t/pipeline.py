"""Generation for users: ``pipe = stylegan_t.load(path); images = pipe(["a red fox"], seeds=[0, 1])``.

One forward pass per image with the EMA generator (STYLE: the diffusers call shape). Every image is
a function of its (prompt, seed) only:

- ``z`` comes from its own seed: ``torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))`` on
  CPU (the same latents as ``StyleGANT.sample``), so a seed gives the same image on any batch size
  (equal up to float rounding of batched matmuls, ~1e-6) and bitwise the same image for the same call;
- ``noise_mode="const"`` (default) uses the stored noise buffers; ``"random"`` draws each image's noise
  from a generator seeded by its own seed (one synthesis pass per image, slower); ``"none"`` uses none.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from .images import image_grid, to_pil, to_uint8
from .latents import seed_latent
from .models.generator import Generator
from .models.synthesis import NOISE_MODES
from .persistence import read_generator_and_info, write_pretrained
from .precision import PrecisionChoice, check_precision, compute_precision, measure_precision, unmeasured_choice

Prompts = str | Sequence[str] | torch.Tensor
OUTPUT_TYPES = ("pil", "tensor")
_NOISE_SEED_MIX = 0x9E3779B97F4A7C15  # noise seed = mix(seed): a stream unrelated to the seed's z


def noise_seed(seed: int) -> int:
    return (seed * _NOISE_SEED_MIX + 1) % 2**63


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows ``a`` -> ``b`` at ``t`` [N] (lerp when nearly parallel); exact at 0 and 1."""
    t = t.reshape(-1, 1).to(a.dtype)
    cos = (a / a.norm()).dot(b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.sin().abs() < 1e-6:
        out = a.lerp(b, t)
    else:
        out = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / omega.sin()
    out[t.flatten() == 0] = a
    out[t.flatten() == 1] = b
    return out


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class StyleGANTPipeline:
    """Text-to-image with a StyleGAN-T generator (eval mode, no grad): prompts x seeds -> images.

    Build with :func:`stylegan_t.load` or :meth:`from_pretrained` (a pretrained folder, a ``.safetensors``
    export or a ``.ckpt`` from ``stylegan-t fit``: its EMA generator); save with :meth:`save_pretrained`.
    """

    def __init__(self, generator: Generator, *, device: str | torch.device | None = None, info: dict[str, Any] | None = None,
                 precision: str = "fp32") -> None:
        self.generator = generator.eval().requires_grad_(False)
        self.info = dict(info or {})
        self.precision = check_precision(precision)
        self.precision_choice: PrecisionChoice | None = None  # what ``auto`` measured, once per pipeline and device
        self.to(device if device is not None else default_device())

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        text_encoder: str | None = None,
        ema: bool = True,
        precision: str = "fp32",
    ) -> "StyleGANTPipeline":
        """From a pretrained folder, an export, a training checkpoint (``ema=False``: its live generator) or the
        name of a model shipped with stylegan_t (``"emoji"``; a path that exists is read first).

        ``text_encoder`` replaces the stored open_clip model (e.g. a moved ``local-dir:`` folder); anything
        unreadable raises :class:`stylegan_t.persistence.CheckpointLoadError` naming what was expected.
        """
        from .weights import resolve_model

        generator, info = read_generator_and_info(resolve_model(path), text_encoder=text_encoder, ema=ema)
        return cls(generator, device=device, info=info, precision=precision)

    def save_pretrained(self, folder: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        """The mirror of :meth:`from_pretrained`: ``folder/config.json`` + ``folder/model.safetensors``."""
        return write_pretrained(folder, self.generator, dtype=dtype, source=self.info or None)

    def to(self, device: str | torch.device) -> "StyleGANTPipeline":
        self.device = torch.device(device)
        self.generator.to(self.device)
        self.precision_choice = None  # measured again on the new device
        return self

    @torch.no_grad()
    def resolve_precision(self, batch_size: int = 4) -> PrecisionChoice:
        """The synthesis precision: the one asked for, or for ``auto`` the faster of fp32 and bf16 on this device
        and model, measured once on a batch of ``batch_size`` (at most 4) and kept (``precision_choice``)."""
        if self.precision_choice is None:
            if self.precision != "auto":
                self.precision_choice = PrecisionChoice(self.precision)
            elif (untimed := unmeasured_choice(self.device)) is not None:
                self.precision_choice = untimed
            else:
                g = self.generator
                z = torch.randn(min(batch_size, 4), g.z_dim, generator=torch.Generator().manual_seed(0)).to(self.device)
                t = torch.nn.functional.normalize(torch.ones(z.shape[0], g.c_dim, device=self.device), dim=1)
                ws = g.mapping(z, t, update_emas=False)

                def run(precision: str) -> torch.Tensor:
                    with compute_precision(precision, self.device):
                        return g.synthesis(ws, noise_mode="const").float().cpu()  # .cpu() waits for the device

                self.precision_choice = measure_precision(run, repeats=2)
        return self.precision_choice

    @property
    def config(self):
        return self.generator.config

    def __repr__(self) -> str:
        g = self.generator
        return (f"StyleGANTPipeline(resolution={g.img_resolution}, z_dim={g.z_dim}, text_dim={g.c_dim}, "
                f"text_encoder={self.config.text_encoder.model!r}, device={str(self.device)!r}, source={self.info.get('kind')!r})")

    # --- building blocks -------------------------------------------------------------------------

    def latents(self, seeds: Iterable[int]) -> torch.Tensor:
        """[N, z_dim] latents, one per seed, on the pipeline's device."""
        return torch.stack([seed_latent(s, self.generator.z_dim) for s in seeds]).to(self.device)

    @torch.no_grad()
    def encode_prompts(self, prompts: Prompts, *, batch_size: int = 64) -> torch.Tensor:
        """Prompts -> [P, text_dim] unit-norm text features (a tensor is taken as features)."""
        if isinstance(prompts, torch.Tensor):
            return self.generator.mapping.encode_text(prompts.to(self.device))
        prompts = _as_prompt_list(prompts)
        feats = [self.generator.mapping.encode_text(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
        return torch.cat(feats).float()

    @torch.no_grad()
    def synthesize(
        self,
        ws: torch.Tensor,
        *,
        noise_mode: str = "const",
        noise_seeds: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """``ws`` [B, num_ws, w_dim] -> float images [B, C, R, R] on CPU; ``random`` noise seeded per image."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        precision = self.resolve_precision(ws.shape[0]).precision
        synthesis = self.generator.synthesis
        if noise_mode != "random":
            with compute_precision(precision, self.device):
                return synthesis(ws, noise_mode=noise_mode).float().cpu()
        if noise_seeds is None or len(noise_seeds) != ws.shape[0]:
            raise ValueError("noise_mode='random' needs one noise seed per image")
        out = []
        devices = [self.device] if self.device.type == "cuda" else []
        for i, seed in enumerate(noise_seeds):
            with torch.random.fork_rng(devices=devices):  # leave the caller's RNG state untouched
                torch.manual_seed(noise_seed(seed))
                with compute_precision(precision, self.device):
                    out.append(synthesis(ws[i : i + 1], noise_mode="random").float().cpu())
        return torch.cat(out)

    def _broadcast_ws(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Paper Sec. 3.1: ``w = concat(x, t)`` broadcast to all ``num_ws`` layers."""
        w = torch.cat([x, t.to(x.dtype)], dim=1)
        return w.unsqueeze(1).repeat(1, self.generator.num_ws, 1)

    def _output(self, images: torch.Tensor, output_type: str):
        if output_type == "pil":
            return to_pil(images)
        if output_type == "tensor":
            return images
        raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")

    # --- generation ------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        prompts: Prompts,
        seeds: int | Iterable[int] = 0,
        *,
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
        batch_size: int = 16,
        output_type: str = "pil",
        pairing: str = "product",
        progress: bool = False,
    ):
        """Images for every (prompt, seed), prompt-major: ``[p0 s0, p0 s1, ..., p1 s0, ...]``.

        ``pairing="zip"`` pairs the i-th prompt with the i-th seed instead (equal lengths).
        ``output_type="pil"``: list of PIL images; ``"tensor"``: float32 CPU tensor [N, C, R, R], about [-1, 1].
        ``truncation_psi`` pulls the z-part toward its average (paper Sec. 3.3: truncation acts on the z-part only).
        """
        from .utils.progress import progress as progress_bar

        features = self.encode_prompts(prompts, batch_size=batch_size)
        seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        if not seeds:
            raise ValueError("seeds must not be empty")
        if pairing == "product":
            pairs = [(p, s) for p in range(features.shape[0]) for s in seeds]
        elif pairing == "zip":
            if len(seeds) != features.shape[0]:
                raise ValueError(f"pairing='zip' needs as many seeds as prompts ({len(seeds)} vs {features.shape[0]})")
            pairs = list(enumerate(seeds))
        else:
            raise ValueError(f"pairing must be 'product' or 'zip', got {pairing!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        images = []
        with progress_bar(len(pairs), unit="img", disable=not progress, desc="generate") as bar:
            for start in range(0, len(pairs), batch_size):
                chunk = pairs[start : start + batch_size]
                z = self.latents(s for _, s in chunk)
                t = features[[p for p, _ in chunk]]
                ws = self.generator.mapping(z, t, truncation_psi=truncation_psi, update_emas=False)
                images.append(self.synthesize(ws, noise_mode=noise_mode, noise_seeds=[s for _, s in chunk]))
                bar.update(len(chunk))
        return self._output(torch.cat(images), output_type)

    @torch.no_grad()
    def interpolate_seeds(
        self,
        prompt: str,
        seed_a: int,
        seed_b: int,
        steps: int,
        *,
        method: str = "slerp",
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
        batch_size: int = 16,
        output_type: str = "pil",
        progress: bool = False,
    ):
        """``steps`` frames from ``seed_a`` to ``seed_b`` (both included) for one prompt.

        ``z`` is interpolated with ``slerp`` (default: keeps Gaussian latents at a typical norm) or ``lerp``;
        the text part of ``w`` is fixed; ``random`` noise uses ``seed_a``'s noise in every frame.
        """
        if method not in ("slerp", "lerp"):
            raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
        alphas = _alphas(steps)
        z_a, z_b = (seed_latent(s, self.generator.z_dim) for s in (seed_a, seed_b))
        zs = slerp(z_a, z_b, alphas) if method == "slerp" else z_a.lerp(z_b, alphas[:, None])
        t = self.encode_prompts([prompt])
        frames = []
        for start in _progress_range(steps, batch_size, progress, "interpolate seeds"):
            z = zs[start : start + batch_size].to(self.device)
            ws = self.generator.mapping(z, t.expand(z.shape[0], -1), truncation_psi=truncation_psi, update_emas=False)
            frames.append(self.synthesize(ws, noise_mode=noise_mode, noise_seeds=[seed_a] * z.shape[0]))
        return self._output(torch.cat(frames), output_type)

    @torch.no_grad()
    def interpolate_prompts(
        self,
        prompt_a: str,
        prompt_b: str,
        seed: int,
        steps: int,
        *,
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
        batch_size: int = 16,
        output_type: str = "pil",
        progress: bool = False,
    ):
        """``steps`` frames from ``prompt_a`` to ``prompt_b`` (both included) at one seed.

        Paper Sec. 4.3 (prompt interpolation): keep ``x = f(z)``, ``w = [x, lerp(t0, t1, a)]``; the endpoints are
        the images ``pipe(prompt_a, seed)`` and ``pipe(prompt_b, seed)``.
        """
        alphas = _alphas(steps).to(self.device)
        z = self.latents([seed])
        # Run the mapping as direct generation does, so x (truncation included) and t are the same tensors.
        w_a = self.generator.mapping(z, self.encode_prompts([prompt_a]), truncation_psi=truncation_psi, update_emas=False)[:, 0]
        w_b = self.generator.mapping(z, self.encode_prompts([prompt_b]), truncation_psi=truncation_psi, update_emas=False)[:, 0]
        zd = self.generator.z_dim
        x, t0, t1 = w_a[:, :zd], w_a[:, zd:], w_b[:, zd:]
        ts = t0.lerp(t1, alphas[:, None])  # exact t0 at a=0 and t1 at a=1
        frames = []
        for start in _progress_range(steps, batch_size, progress, "interpolate prompts"):
            t = ts[start : start + batch_size]
            ws = self._broadcast_ws(x.expand(t.shape[0], -1), t)
            frames.append(self.synthesize(ws, noise_mode=noise_mode, noise_seeds=[seed] * t.shape[0]))
        return self._output(torch.cat(frames), output_type)


def _progress_range(total: int, step: int, progress: bool, desc: str):
    """``range(0, total, step)`` with a progress bar counting items (frames) when ``progress``."""
    from .utils.progress import progress as progress_bar

    if step < 1:
        raise ValueError(f"batch_size must be >= 1, got {step}")
    with progress_bar(total, unit="frame", disable=not progress, desc=desc) as bar:
        for start in range(0, total, step):
            yield start
            bar.update(min(step, total - start))


def _alphas(steps: int) -> torch.Tensor:
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (both endpoints are included), got {steps!r}")
    return torch.linspace(0, 1, steps)


def _as_prompt_list(prompts: str | Sequence[str]) -> list[str]:
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a non-empty string or list of strings (or a [P, text_dim] feature tensor)")
    return prompts


def load(
    path: str | os.PathLike, device: str | torch.device | None = None, *, text_encoder: str | None = None,
    precision: str = "fp32",
) -> StyleGANTPipeline:
    """Load a pretrained folder, an export (``.safetensors``), a training checkpoint (``.ckpt``) or a model shipped
    with stylegan_t by name (``load("emoji")``, see :mod:`stylegan_t.weights`) as a pipeline.

    The kind is detected from the file's content. ``device`` defaults to CUDA when available.
    ``text_encoder`` overrides the stored open_clip spec (e.g. a ``local-dir:`` folder that moved).
    ``precision``: ``fp32`` (the default: the same images on every machine), ``bf16`` (autocast) or ``auto``: the
    faster of the two on this device, measured on the first generation (:mod:`stylegan_t.precision`).
    Anything else (missing file, another model's state dict, unreadable file) raises
    :class:`stylegan_t.persistence.CheckpointLoadError` naming what was expected.
    """
    return StyleGANTPipeline.from_pretrained(path, device=device, text_encoder=text_encoder, precision=precision)


__all__ = ["StyleGANTPipeline", "image_grid", "load", "seed_latent", "slerp", "to_pil", "to_uint8"]
