"""The reader of the rotated-shapes world (:mod:`stylegan_t.demo.rotated_shapes`): a small CNN trained on renders.

Independent of the training code: it never sees the CLIP, the generator or the discriminator, only freshly
rendered images of the set (other seeds than the training data) with their colour and shape labels. Five
conv layers and two linear heads (colour, shape); a few thousand renders and a few epochs of Adam read
held-out renders almost perfectly (the accuracy is measured on renders it never saw and stored with it).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from torch import nn

from ..data.decode import pil_to_tensor
from .rotated_shapes import COLORS, SHAPES, random_shape_scene, render

_TRAIN_SEED, _TEST_SEED = 10_000, 20_000  # render seeds: the data set itself uses 0


class ShapeCNN(nn.Module):
    """Five conv layers and two linear heads: the colour and the shape of a rotated-shapes render."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width

        def conv(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

        self.body = nn.Sequential(
            *conv(3, w), *conv(w, w), nn.MaxPool2d(2), *conv(w, 2 * w), *conv(2 * w, 2 * w), nn.MaxPool2d(2),
            *conv(2 * w, 2 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.color = nn.Linear(2 * w, len(COLORS))
        self.shape = nn.Linear(2 * w, len(SHAPES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, 3, H, W] in [-1, 1] -> (colour logits, shape logits)."""
        h = self.body(x)
        return self.color(h), self.shape(h)


def renders(n: int, seed: int, resolution: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` labelled renders: images [n, 3, H, W] in [-1, 1], colour and shape indices."""
    rng = random.Random(seed)
    scenes = [random_shape_scene(rng) for _ in range(n)]
    images = torch.stack([pil_to_tensor(render(s, resolution)) for s in scenes])
    colors = torch.tensor([list(COLORS).index(s.color) for s in scenes])
    shapes = torch.tensor([SHAPES.index(s.shape) for s in scenes])
    return images, colors, shapes


def accuracy(model: ShapeCNN, images: torch.Tensor, colors: torch.Tensor, shapes: torch.Tensor) -> dict[str, float]:
    """``{"color": ..., "shape": ...}``: the share of ``images`` whose colour / shape the model reads right (eval mode)."""
    model.eval()
    with torch.no_grad():
        c, s = model(images)
    return {"color": float((c.argmax(1) == colors).float().mean()), "shape": float((s.argmax(1) == shapes).float().mean())}


def train_shape_cnn(*, num_train: int = 6144, num_test: int = 1024, epochs: int = 6, batch_size: int = 64,
                    seed: int = 0) -> tuple[ShapeCNN, dict[str, float]]:
    """Train on fresh renders (with small pixel noise and blur as augmentation, so generator outputs are not out
    of its range); returns the model and its accuracy on ``num_test`` renders it never saw."""
    torch.manual_seed(seed)
    images, colors, shapes = renders(num_train, _TRAIN_SEED + seed)
    model = ShapeCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (num_train // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(num_train)
        for start in range(0, num_train - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            x = images[idx] + 0.05 * torch.randn_like(images[idx])
            if random.random() < 0.5:
                x = nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
            c, s = model(x)
            loss = loss_fn(c, colors[idx]) + loss_fn(s, shapes[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model, accuracy(model, *renders(num_test, _TEST_SEED + seed))


def save(model: ShapeCNN, folder: str | Path, scores: dict[str, float]) -> Path:
    """Write the weights and their held-out ``scores`` into ``folder`` (read back by :func:`load`); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "shape_cnn.pt")
    (folder / "shape_cnn.json").write_text(json.dumps({"heldout_accuracy": scores}, indent=1))
    return folder


def load(folder: str | Path) -> ShapeCNN:
    """The trained reader saved by :func:`save` in ``folder`` (read weights-only, loaded strictly)."""
    from ..persistence import load_state_strict
    from ..utils.weight_files import read_weights

    path = Path(folder) / "shape_cnn.pt"
    model = ShapeCNN()
    load_state_strict(model, read_weights(path, what="shape reader"), source=str(path))
    return model.eval()


def reader(model: ShapeCNN):
    """``detect(image) -> {"color", "shape"}`` for :func:`stylegan_t.metrics.prompt_alignment.prompt_alignment`."""

    def detect(image: torch.Tensor) -> dict[str, str]:
        if not isinstance(image, torch.Tensor):
            image = pil_to_tensor(image)
        with torch.no_grad():
            c, s = model(image[None].float().clamp(-1, 1))
        return {"color": list(COLORS)[int(c.argmax())], "shape": SHAPES[int(s.argmax())]}

    return detect


def shape_log_prob(model: ShapeCNN, images: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """log p(shape | image) per image, differentiable in ``images`` (the probes' direction "toward the shape")."""
    return torch.log_softmax(model(images)[1], dim=1).gather(1, shapes[:, None])[:, 0]


def color_log_prob(model: ShapeCNN, images: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(model(images)[0], dim=1).gather(1, colors[:, None])[:, 0]


__all__ = ["ShapeCNN", "train_shape_cnn", "save", "load", "reader", "renders", "accuracy"]
