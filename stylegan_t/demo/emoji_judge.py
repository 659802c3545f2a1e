"""An independent judge of emoji images: a small CNN trained on real renders only, apart from the training code.

It reads an image's emoji *group* (9) and *subgroup* (~100) and maps it to an embedding in which each real
render lies nearest to itself (trained to tell the training names apart under augmentation). Nothing here
imports the generator, the discriminator or their CLIP: the generator never saw this network, so it cannot
have learned to please it. The augmentation (shifts, scale, blur, noise) is what a generated 32x32 image
differs from a clean render by; colours are left alone, since names carry them ("green apple", skin tones).

    python -m stylegan_t.demo.emoji_judge --out JUDGE_DIR      # train on the renders of the training names
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .emoji import GROUPS, Emoji, catalogue, render, split

INPUT = 32  # every image is read at 32x32 (a 64x64 image is downsampled first)


@dataclass
class JudgeConfig:
    subgroups: list[str]
    names: list[str]  # the identity classes: training names, in catalogue order
    width: int = 32
    embed_dim: int = 128


class EmojiJudge(nn.Module):
    """conv stack -> unit-norm embedding; linear heads for group, subgroup and (training) identity."""

    def __init__(self, config: JudgeConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.features = nn.Sequential(block(3, w), nn.MaxPool2d(2), block(w, 2 * w), nn.MaxPool2d(2),
                                      block(2 * w, 4 * w), nn.MaxPool2d(2), block(4 * w, 4 * w))  # 4x4
        self.embed = nn.Linear(4 * w * 16, config.embed_dim)
        self.group = nn.Linear(config.embed_dim, len(GROUPS))
        self.subgroup = nn.Linear(config.embed_dim, len(config.subgroups))
        self.identity = nn.Linear(config.embed_dim, len(config.names), bias=False)

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """Float images in [-1, 1] (the generator's range), [B, 3, R, R] -> [B, 3, 32, 32]."""
        images = images.float().clamp(-1, 1)
        if images.shape[-1] != INPUT:
            images = F.interpolate(images, size=(INPUT, INPUT), mode="area" if images.shape[-1] > INPUT else "bilinear")
        return images

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(self.prepare(images)).flatten(1)
        e = F.normalize(self.embed(h), dim=1)
        return {"embedding": e, "group": self.group(e * 8), "subgroup": self.subgroup(e * 8),
                "identity": self.identity(e) * 16 / self.identity.weight.norm(dim=1).clamp_min(1e-6)}

    # --- files --------------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "judge.safetensors"))  # float16: half the size; read back into float32
        (folder / "judge.json").write_text(json.dumps(asdict(self.config), ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "EmojiJudge":
        from safetensors.torch import load_file

        from ..persistence import load_state_strict

        folder = Path(folder)
        judge = cls(JudgeConfig(**json.loads((folder / "judge.json").read_text())))
        load_state_strict(judge, load_file(str(folder / "judge.safetensors")), source=f"emoji judge '{folder}'")
        return judge.eval().requires_grad_(False)


def to_tensor(images: list) -> torch.Tensor:
    """PIL images -> float [B, 3, R, R] in [-1, 1]."""
    array = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2) / 127.5 - 1


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random scale (0.8-1.1) and shift (+-4 px at 32), a blur of random strength and pixel noise; white fill."""
    b = x.shape[0]
    scale = torch.empty(b).uniform_(0.8, 1.1, generator=gen)
    shift = torch.empty(b, 2).uniform_(-0.25, 0.25, generator=gen)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x - 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 1  # white outside
    sigma = torch.empty(b).uniform_(0.0, 1.2, generator=gen).clamp_min(1e-3)
    k = torch.arange(-2, 3, dtype=torch.float32)
    kernel = torch.exp(-k[None, :] ** 2 / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(x.shape[1], dim=0)  # [B*C, 5]
    h, w = x.shape[-2:]
    y = F.pad(x.reshape(1, -1, h, w), (2, 2, 2, 2), mode="replicate")
    y = F.conv2d(y, kernel[:, None, None, :], groups=kernel.shape[0])  # rows
    x = F.conv2d(y, kernel[:, None, :, None], groups=kernel.shape[0]).reshape(x.shape)  # columns
    noise = torch.randn(x.shape, generator=gen) * torch.empty(b, 1, 1, 1).uniform_(0, 0.08, generator=gen)
    return (x + noise).clamp(-1, 1)


def renders(emojis: list[Emoji], resolution: int = INPUT) -> torch.Tensor:
    return to_tensor([render(e, resolution) for e in emojis])


def train_judge(*, epochs: int = 40, batch_size: int = 128, seed: int = 0, threads: int | None = 1,
                emojis: list[Emoji] | None = None, log: bool = True) -> EmojiJudge:
    """Train on the renders of the training names (augmented); the held-out names are not seen."""
    if threads:
        torch.set_num_threads(threads)
    emojis = emojis or catalogue()
    train, _ = split(emojis)
    subgroups = sorted({e.subgroup for e in emojis})
    torch.manual_seed(seed)
    judge = EmojiJudge(JudgeConfig(subgroups=subgroups, names=[e.name for e in train]))
    x = renders(train)
    groups = torch.tensor([GROUPS.index(e.group) for e in train])
    subs = torch.tensor([subgroups.index(e.subgroup) for e in train])
    ids = torch.arange(len(train))
    # balance the groups: a sample's weight is 1 / its group's size (People & Body is most of the catalogue)
    group_weight = 1.0 / torch.bincount(groups, minlength=len(GROUPS)).clamp_min(1).float()
    steps = epochs * -(-len(train) // batch_size)
    opt = torch.optim.AdamW(judge.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    start, step = time.perf_counter(), 0
    judge.train()
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=gen)
        for i in range(0, len(train), batch_size):
            idx = order[i : i + batch_size]
            out = judge(augment(x[idx], gen))
            g_loss = (F.cross_entropy(out["group"], groups[idx], reduction="none") * group_weight[groups[idx]]).sum()
            g_loss = g_loss / group_weight[groups[idx]].sum()
            loss = g_loss + F.cross_entropy(out["subgroup"], subs[idx]) + F.cross_entropy(out["identity"], ids[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        if log and (epoch % 10 == 9 or epoch == epochs - 1):
            print(f"judge epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    return judge.eval().requires_grad_(False)


@torch.no_grad()
def read(judge: EmojiJudge, images: torch.Tensor, *, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """The judge's reading of float images in [-1, 1]: group / subgroup indices and unit-norm embeddings."""
    outs = [judge(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return {"group": torch.cat([o["group"].argmax(1) for o in outs]),
            "subgroup": torch.cat([o["subgroup"].argmax(1) for o in outs]),
            "embedding": torch.cat([o["embedding"] for o in outs])}


def balanced_accuracy(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Accuracy averaged over the classes present in ``true`` (each class counts once)."""
    classes = true.unique()
    return float(torch.stack([(pred[true == c] == c).float().mean() for c in classes]).mean())


def real_accuracy(judge: EmojiJudge, emojis: list[Emoji]) -> dict[str, float]:
    """How well the judge reads clean real renders: group / subgroup, plain and balanced."""
    reading = read(judge, renders(emojis))
    groups = torch.tensor([GROUPS.index(e.group) for e in emojis])
    subs = torch.tensor([judge.config.subgroups.index(e.subgroup) for e in emojis])
    return {"n": len(emojis), "group": float((reading["group"] == groups).float().mean()),
            "group_balanced": balanced_accuracy(reading["group"], groups),
            "subgroup": float((reading["subgroup"] == subs).float().mean()),
            "subgroup_balanced": balanced_accuracy(reading["subgroup"], subs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.emoji_judge", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for judge.json + judge.safetensors")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    judge = train_judge(epochs=args.epochs, threads=args.threads)
    judge.save(args.out)
    train, heldout = split(catalogue())
    report = {"train_names": real_accuracy(judge, train), "heldout_names": real_accuracy(judge, heldout)}
    (Path(args.out) / "judge_scores.json").write_text(json.dumps(report, indent=1))
    for part, r in report.items():
        print(f"real renders, {part} ({r['n']}): group {100 * r['group']:.1f}% (balanced {100 * r['group_balanced']:.1f}%), "
              f"subgroup {100 * r['subgroup']:.1f}% (balanced {100 * r['subgroup_balanced']:.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
