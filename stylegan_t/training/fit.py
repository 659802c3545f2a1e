"""Build the Lightning Trainer, DataModule and StyleGANT from a recipe, and run ``fit`` (with resume)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from .callbacks import FinalCheckpoint, SampleGrid, StopAtKimg, Throughput
from .recipe import Recipe, recipe_to_yaml

log = logging.getLogger(__name__)


def world_size_of(trainer_kwargs: dict[str, Any]) -> int:
    """Processes the Trainer will start: devices per node (int, list, -1/'auto') times nodes."""
    devices = trainer_kwargs.get("devices", "auto")
    if isinstance(devices, (list, tuple)):
        per_node = len(devices)
    elif isinstance(devices, str) and devices.isdigit():
        per_node = int(devices)
    elif isinstance(devices, int) and devices > 0:
        per_node = devices
    else:
        import torch

        on_cpu = trainer_kwargs.get("accelerator") == "cpu" or not torch.cuda.is_available()
        per_node = 1 if on_cpu else torch.cuda.device_count()
    return per_node * int(trainer_kwargs.get("num_nodes", 1))


def build_strategy(name: Any, world_size: int = 1) -> Any:
    """'ddp' -> DDP with ``find_unused_parameters`` (two backward passes per step need it);
    'fsdp' -> FSDP2 through ModelParallelStrategy (the path that works with two optimizers), all ranks
    data-parallel; else as given."""
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=True)
    if name == "ddp_spawn":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=True, start_method="spawn")
    if name == "fsdp":
        from lightning.pytorch.strategies import ModelParallelStrategy

        return ModelParallelStrategy(data_parallel_size=world_size, tensor_parallel_size=1)
    return name


def build_logger(run_dir: Path) -> Any:
    """TensorBoard when installed, CSV otherwise."""
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(run_dir), name="logs", version="")
    except ImportError:
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(run_dir), name="logs", version="")


def build_metrics_callback(recipe: Recipe) -> L.Callback | None:
    """The recipe's ``eval`` section as a :class:`PeriodicMetrics` callback (weights loaded now: fail early)."""
    ev = recipe.eval
    if ev.every_kimg is None or not (ev.fid or ev.clip_model):
        return None
    from ..metrics import FID, OpenCLIPScore
    from .eval_callback import PeriodicMetrics

    fid = FID(weights_path=ev.inception_weights, reset_real_features=False) if ev.fid else None
    clip = OpenCLIPScore(ev.clip_model, ev.clip_pretrained) if ev.clip_model else None
    return PeriodicMetrics(
        every_kimg=ev.every_kimg,
        num_samples=ev.num_samples,
        fid=fid,
        clip_score=clip,
        truncation_psi=ev.truncation_psi,
        out_file=Path(recipe.run.dir) / "metrics.jsonl",
    )


def build_trainer(recipe: Recipe, *, extra_callbacks: list[L.Callback] | None = None) -> L.Trainer:
    run = recipe.run
    run_dir = Path(run.dir)
    kwargs = recipe.trainer.to_kwargs()
    kwargs["strategy"] = build_strategy(kwargs.get("strategy", "auto"), world_size_of(kwargs))
    kwargs.setdefault("max_epochs", -1)
    kwargs.setdefault("log_every_n_steps", 1)
    kwargs.setdefault("default_root_dir", str(run_dir))
    kwargs.setdefault("num_sanity_val_steps", 0)
    kwargs.setdefault("enable_model_summary", False)
    callbacks = [
        Throughput(),
        StopAtKimg(run.total_kimg),
        SampleGrid(
            out_dir=run_dir / "samples",
            prompts=run.sample_prompts,
            seeds=run.sample_seeds,
            every_kimg=run.sample_every_kimg,
            truncation_psi=run.sample_truncation,
        ),
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="epoch{epoch:04d}",
            auto_insert_metric_name=False,
            every_n_epochs=run.checkpoint_every_epochs,
            save_top_k=-1,
            save_last=True,
            save_on_train_epoch_end=True,
            enable_version_counter=False,  # a resumed run overwrites last.ckpt instead of writing last-v1.ckpt
        ),
        FinalCheckpoint(run_dir / "checkpoints" / "last.ckpt"),
    ]
    metrics = build_metrics_callback(recipe)
    if metrics is not None:
        callbacks.append(metrics)
    callbacks += list(extra_callbacks or [])
    kwargs["callbacks"] = callbacks + list(kwargs.get("callbacks") or [])
    kwargs.setdefault("logger", build_logger(run_dir))
    return L.Trainer(**kwargs)


def build_datamodule(recipe: Recipe, world_size: int) -> L.LightningDataModule:
    from .datamodule import WebDataSetDataModule

    o = recipe.optim
    if o.batch_size % (world_size * o.micro_batch_size):
        raise ValueError(
            f"optim.batch_size={o.batch_size} must be a multiple of devices ({world_size}) x "
            f"optim.micro_batch_size ({o.micro_batch_size})"
        )
    return WebDataSetDataModule(
        recipe.data,
        resolution=recipe.model.generator.img_resolution,
        batch_size=o.batch_size // world_size,
        seed=recipe.run.seed,
    )


def fit(
    recipe: Recipe,
    *,
    resume: str | Path | None = None,
    datamodule: L.LightningDataModule | None = None,
    extra_callbacks: list[L.Callback] | None = None,
):
    """Train per ``recipe``; ``resume`` continues from a checkpoint (weights, optimizers, EMA, images seen)."""
    from .module import StyleGANT
    from .preflight import preflight

    preflight(recipe, check_data=datamodule is None)  # bad settings and missing files stop here, before any model
    L.seed_everything(recipe.run.seed, workers=True, verbose=False)
    run_dir = Path(recipe.run.dir)
    trainer = build_trainer(recipe, extra_callbacks=extra_callbacks)
    if trainer.global_rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.yaml").write_text(recipe_to_yaml(recipe))
    model = StyleGANT(recipe)
    datamodule = datamodule or build_datamodule(recipe, trainer.world_size)
    trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    return model, trainer
