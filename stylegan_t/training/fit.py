"""Build the Lightning Trainer, DataModule and StyleGANT from a recipe, and run ``fit`` (with resume)."""
from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

from ..persistence.formats import CHECKPOINT_META
from ..utils.progress import is_terminal
from .auto_precision import resolve_training_precision
from .callbacks import FinalCheckpoint, NonFiniteLossMonitor, PlainProgressBar, SampleGrid, StopAtKimg, Throughput
from .checkpoint_io import AtomicCheckpointIO, load_checkpoint_file, resolve_resume
from .known_noise import without_known_noise
from .module_class import check_recorded_module, class_path
from .preflight import preflight
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
    """TensorBoard when installed, CSV otherwise (appending: a resumed run keeps the rows before the kill)."""
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(run_dir), name="logs", version="")
    except ImportError:
        from .loggers import ResumableCSVLogger

        return ResumableCSVLogger(save_dir=str(run_dir), name="logs", version="")


def fault_tolerance(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Trainer kwargs with atomic, weights-only checkpoint I/O (unless the recipe brings its own CheckpointIO)."""
    from lightning.pytorch.plugins.io import CheckpointIO

    plugins = kwargs.get("plugins") or []
    plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if not any(isinstance(p, CheckpointIO) for p in plugins) and not _strategy_has_checkpoint_io(kwargs.get("strategy")):
        plugins.append(AtomicCheckpointIO())
    return {**kwargs, "plugins": plugins}


def _strategy_has_checkpoint_io(strategy: Any) -> bool:
    return getattr(strategy, "_checkpoint_io", None) is not None


def make_trainer(kwargs: dict[str, Any]) -> L.Trainer:
    """``L.Trainer(**kwargs)``; settings Lightning refuses (an unknown argument, an accelerator this machine
    lacks) become a :class:`RecipeError` naming the ``trainer`` key."""
    import re

    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from ..errors import RecipeError

    try:
        return L.Trainer(**kwargs)
    except TypeError as err:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if unknown is None:
            raise
        raise RecipeError(f"trainer.{unknown.group(1)} is not a lightning.Trainer argument") from None
    except MisconfigurationException as err:
        raise RecipeError(f"trainer: {' '.join(str(err).split())}") from None


def fault_callbacks() -> list[L.Callback]:
    """Callbacks that report training faults: non-finite losses (warned, counted) and shard read errors."""
    return [NonFiniteLossMonitor()]


def check_run_dir(run_dir: Path) -> None:
    """``run.dir`` can hold the run's files: checked before any model is built."""
    from ..utils.files import check_writable_dir

    check_writable_dir(run_dir, option="run.dir")


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
        *fault_callbacks(),
    ]
    if kwargs.get("enable_progress_bar", True) and not is_terminal(sys.stdout):
        callbacks.append(PlainProgressBar())  # a log file gets a line every 30 s, not thousands of bar frames
    metrics = build_metrics_callback(recipe)
    if metrics is not None:
        callbacks.append(metrics)
    callbacks += list(extra_callbacks or [])
    kwargs["callbacks"] = callbacks + list(kwargs.get("callbacks") or [])
    kwargs.setdefault("logger", build_logger(run_dir))
    return make_trainer(fault_tolerance(kwargs))


def build_datamodule(recipe: Recipe, world_size: int) -> L.LightningDataModule:
    from .datamodule import WebDataSetDataModule

    return WebDataSetDataModule(
        recipe.data,
        resolution=recipe.model.generator.img_resolution,
        batch_size=recipe.optim.per_rank_batch(world_size),
        seed=recipe.run.seed,
    )


def resume_meta(resume: Path) -> dict[str, Any]:
    """The ``stylegan_t`` entry of the checkpoint to resume from (a file or a sharded folder's ``meta.pt``)."""
    from ..persistence.checkpoint import checkpoint_meta, torch_load
    from ..persistence.sharded import META_FILE, is_sharded_checkpoint, verify_sharded_checkpoint

    if is_sharded_checkpoint(resume):
        verify_sharded_checkpoint(resume)  # Lightning reads the folder with plain pickle: prove it is plain data first
        return checkpoint_meta(torch_load(resume / META_FILE), path=resume)
    return load_checkpoint_file(resume, mmap=True)[CHECKPOINT_META]


def finished_message(recipe: Recipe, images_seen: int) -> str | None:
    """Why a resumed run has nothing left to train, or None."""
    total = round(recipe.run.total_kimg * 1000)
    if images_seen < total:
        return None
    return (f"the checkpoint has already seen {images_seen} of run.total_kimg={recipe.run.total_kimg:g} "
            f"({total} images): nothing to train; raise run.total_kimg to continue")


def fit(
    recipe: Recipe,
    *,
    module: str | type | None = None,
    code: list[str | Path] | None = None,
    resume: str | Path | None = None,
    datamodule: L.LightningDataModule | None = None,
    extra_callbacks: list[L.Callback] | None = None,
):
    """Train per ``recipe``; ``resume`` continues from a checkpoint (weights, optimizers, EMA, images seen):
    a path, or ``"last"`` for the run's ``last.ckpt`` (damaged: the newest intact epoch checkpoint, warned).

    ``module``: the LightningModule class (or its ``package.module:Class``) instead of ``model.module``;
    ``code``: folders put on the import path to find it. Nothing is written before every check has passed.
    Returns ``(module, trainer)``, or ``(None, None)`` when ``resume`` has already reached ``run.total_kimg``.
    """
    # bad settings, missing files and a foreign checkpoint stop here, before any model and before run.dir exists
    module_class = preflight(recipe, module=module, code=code, check_data=datamodule is None)
    recipe = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, module=class_path(module_class)))
    run_dir = Path(recipe.run.dir)
    resume = resolve_resume(resume, run_dir)
    if resume is not None:
        meta = resume_meta(resume)
        check_recorded_module(meta.get("module"), recipe.model.module, source=f"checkpoint '{resume}'")
        finished = finished_message(recipe, int(meta.get("images_seen", 0)))
        if finished:
            log.warning(finished)
            return None, None
    check_run_dir(run_dir)
    L.seed_everything(recipe.run.seed, workers=True, verbose=False)
    with without_known_noise(resuming=resume is not None):  # Lightning's messages the user cannot act on (each one named there)
        # built once: early only when precision auto must time it; from the recipe as given (auto included)
        build_model = functools.cache(functools.partial(module_class, recipe))

        world_size = world_size_of(recipe.trainer.to_kwargs())
        recipe, chosen = resolve_training_precision(recipe, build_model, world_size=world_size)
        trainer = build_trainer(recipe, extra_callbacks=extra_callbacks)
        if trainer.global_rank == 0:
            if chosen:
                rank_zero_info(chosen)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "recipe.yaml").write_text(recipe_to_yaml(recipe))
        model = build_model()
        datamodule = datamodule or build_datamodule(recipe, trainer.world_size)
        # weights_only=True: a hostile checkpoint cannot run code, whatever torch's default is set to.
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume) if resume else None, weights_only=True)
    return model, trainer


def release_process_group() -> None:
    """Destroy the ``torch.distributed`` process group a multi-process ``fit`` created, if any. For the end of
    a process that is done training (the CLI, launcher scripts): left to interpreter exit, gloo's threads can
    abort the finished process ("terminate called without an active exception", seen in 2-process CPU runs)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
