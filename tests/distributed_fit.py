"""Run a tiny fit under a 2-process strategy and record, per rank, the captions seen and a weight digest.

Launched by tests/test_training_distributed.py as ``python tests/distributed_fit.py OUT SHARDS STRATEGY``;
Lightning re-executes this script for rank 1.
"""
import json
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t.training.fit import fit, release_process_group  # noqa: E402
from stylegan_t.training.recipe import load_recipe  # noqa: E402


class Recorder(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out
        self.captions: list[str] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.captions += list(batch["caption"])

    def on_train_end(self, trainer, module):
        weights = {}
        named = list(module.generator.named_parameters()) + list(module.discriminator.named_parameters())
        named += [(f"ema.{n}", p) for n, p in module.generator_ema.named_parameters()]
        for name, tensor in named:
            if hasattr(tensor, "full_tensor"):
                tensor = tensor.full_tensor()  # FSDP2 DTensor -> gathered
            weights[name] = float(tensor.detach().double().sum())
        rank = trainer.global_rank
        (self.out / f"rank{rank}.json").write_text(
            json.dumps({"captions": self.captions, "weights": weights, "images_seen": module.images_seen})
        )


def main() -> None:
    out, shards, strategy = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    recipe = load_recipe(
        "tiny-cpu",
        [
            f"data.urls={shards}",
            f"run.dir={out / 'run'}",
            "trainer.devices=2",
            f"trainer.strategy={strategy}",
            "trainer.enable_progress_bar=false",
            "optim.batch_size=8",
            "optim.micro_batch_size=2",
            "data.batches_per_epoch=2",
            "run.total_kimg=0.016",
        ],
    )
    torch.set_num_threads(1)
    fit(recipe, extra_callbacks=[Recorder(out)])
    release_process_group()


if __name__ == "__main__":
    main()
