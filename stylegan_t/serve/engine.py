"""The playground's model side: one generator loaded once, a lock around it, requests -> PIL images.

Interpolation follows arXiv 2301.09515 (its prompt interpolation): ``w = [x, t]`` with ``x = f(z)`` the
mapped (and truncated) latent and ``t`` the text feature. Between two prompts ``t`` moves linearly
while ``x`` stays; between two seeds ``z`` moves by slerp, as in :meth:`StyleGANTPipeline.interpolate_seeds`.
"""
from __future__ import annotations

import io
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch

from .params import GenerateParams, GifParams, GridParams, styled

Cancelled = Callable[[], bool] | None  # asked once the lock is held: True skips the work (a stale request)
FEATURE_CACHE_SIZE = 256
GIF_BATCH = 16  # GIF frames per forward pass  # prompts whose text features are kept (typing revisits the same prefixes)


#: the page's first prompt when the model file names none (an export, or a checkpoint without sample prompts)
FALLBACK_PROMPT = "a photo of a cat"


def default_prompt(path: str | os.PathLike) -> str:
    """The prompt the page opens with: the first sample prompt of the run that wrote a training checkpoint (what
    its sample grids drew), else :data:`FALLBACK_PROMPT`."""
    from ..errors import CheckpointError
    from ..persistence import read_training_checkpoint

    try:
        prompts = read_training_checkpoint(path, mmap=True)["hyper_parameters"]["recipe"]["run"]["sample_prompts"]
        return str(prompts[0]) if prompts else FALLBACK_PROMPT
    except (CheckpointError, KeyError, TypeError, IndexError):
        return FALLBACK_PROMPT


def load_pipeline(path: str | os.PathLike, *, device: str | None = None, text_encoder: str | None = None,
                  precision: str = "fp32"):
    """The one place the playground loads a model: a training checkpoint or an export -> a pipeline."""
    from ..pipeline import load

    return load(path, device=device, text_encoder=text_encoder, precision=precision)


class PlaygroundEngine:
    """Serializes all model use behind one lock, so concurrent requests never interleave on the model.

    Each image is a function of its parameters only (seeded latents and noise, eval mode), so a request
    gets the same bytes whether it runs alone or among others.
    """

    def __init__(self, pipe, *, default_prompt: str = FALLBACK_PROMPT) -> None:
        self.pipe = pipe
        self.default_prompt = default_prompt  # the page shows this prompt's image at once, before any typing
        self.lock = threading.Lock()
        self._features: OrderedDict[str, torch.Tensor] = OrderedDict()

    @property
    def resolution(self) -> int:
        return int(self.pipe.generator.img_resolution)

    def info(self) -> dict:
        """What the page shows about the model (and what scripts may want to check)."""
        g = self.pipe.generator
        return {"resolution": self.resolution, "z_dim": g.z_dim, "text_dim": g.c_dim, "device": str(self.pipe.device),
                "text_encoder": self.pipe.config.text_encoder.model, "source": self.pipe.info.get("kind"),
                "default_prompt": self.default_prompt}

    # --- building blocks (call with the lock held) -----------------------------------------------

    def _feature(self, prompt: str) -> torch.Tensor:
        """[1, text_dim] text feature of one prompt, from a small LRU cache."""
        if prompt in self._features:
            self._features.move_to_end(prompt)
            return self._features[prompt]
        feature = self.pipe.encode_prompts([prompt])
        self._features[prompt] = feature
        if len(self._features) > FEATURE_CACHE_SIZE:
            self._features.popitem(last=False)
        return feature

    def _latents(self, seed: int, seed2: int | None, alphas: torch.Tensor) -> torch.Tensor:
        """[N, z_dim]: ``z(seed)`` repeated, or slerp from ``z(seed)`` to ``z(seed2)`` at ``alphas``."""
        from ..pipeline import seed_latent, slerp

        z0 = seed_latent(seed, self.pipe.generator.z_dim)
        if seed2 is None:
            return z0.expand(len(alphas), -1)
        return slerp(z0, seed_latent(seed2, self.pipe.generator.z_dim), alphas)

    def _frames(self, p: GenerateParams | GifParams, alphas: Sequence[float]) -> list:
        """Images at each ``alpha`` on the way from (prompt, seed) to (prompt2, seed2)."""
        from ..pipeline import to_pil

        a = torch.tensor(list(alphas), dtype=torch.float32)
        f0 = self._feature(styled(p.prompt, p.style))
        f1 = f0 if p.prompt2 is None else self._feature(styled(p.prompt2, p.style))
        t = f0.expand(len(a), -1) if p.prompt2 is None else f0.lerp(f1, a[:, None].to(f0.device))  # exact at 0 and 1
        z = self._latents(p.seed, p.seed2, a).to(self.pipe.device)
        ws = self.pipe.generator.mapping(z, t, truncation_psi=p.psi, update_emas=False)
        images = self.pipe.synthesize(ws, noise_mode=p.noise_mode, noise_seeds=[p.seed] * len(a))
        return to_pil(images)

    # --- requests --------------------------------------------------------------------------------

    @torch.no_grad()
    def _locked(self, work: Callable[[], list], cancelled: Cancelled) -> tuple[list | None, float]:
        """Run ``work`` holding the model lock; -> (its images, milliseconds it took), or (None, 0) when cancelled."""
        with self.lock:
            if cancelled is not None and cancelled():
                return None, 0.0
            start = time.perf_counter()
            images = work()
            return images, (time.perf_counter() - start) * 1000

    def generate(self, p: GenerateParams, cancelled: Cancelled = None) -> tuple[bytes | None, float]:
        """PNG bytes of one image and the milliseconds the model took (lock wait excluded)."""
        images, ms = self._locked(lambda: self._frames(p, [p.alpha]), cancelled)
        return (None if images is None else png_bytes(images[0])), ms

    def grid(self, p: GridParams, cancelled: Cancelled = None) -> tuple[bytes | None, float]:
        """PNG of ``len(seeds)`` images for one prompt, ``cols`` per row."""
        from ..pipeline import image_grid

        prompt = styled(p.prompt, p.style)

        def work() -> list:
            return self.pipe(self._feature(prompt), seeds=list(p.seeds), truncation_psi=p.psi, noise_mode=p.noise_mode)

        images, ms = self._locked(work, cancelled)
        return (None if images is None else png_bytes(image_grid(images, cols=min(p.cols, len(images))))), ms

    def gif(self, p: GifParams, cancelled: Cancelled = None) -> tuple[bytes | None, float]:
        """An animated GIF (looping) of ``frames`` images from alpha 0 to 1, both ends included."""
        alphas = torch.linspace(0, 1, p.frames).tolist()
        chunks = range(0, len(alphas), GIF_BATCH)
        frames, ms = self._locked(lambda: [f for i in chunks for f in self._frames(p, alphas[i : i + GIF_BATCH])], cancelled)
        if frames is None:
            return None, ms
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                       duration=max(int(round(1000 / p.fps)), 20), loop=0)
        return buf.getvalue(), ms


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
