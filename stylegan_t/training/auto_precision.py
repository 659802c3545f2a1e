"""``trainer.precision: auto``: float32 or bf16 mixed precision for training, chosen by measurement.

Whether bf16 pays for training depends on the device and the model: on GPUs with bf16 tensor cores it always
does; on a CPU with bf16 matrix units (Intel AMX) the large convolutions gain while the many small ops around
them do not, and on a CPU without them (e.g. AMD EPYC with only avx512_bf16) it is slower. On a CPU with AMX or
AVX512-BF16 ``auto`` times one generator + discriminator forward and backward pass of the recipe's micro-batch in
both (the training iteration's work) and keeps bf16 only when it is clearly faster
(:data:`stylegan_t.precision.BF16_MARGIN`); on a CPU with neither, bf16 is emulated and fp32 is taken untimed.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from ..precision import PrecisionChoice, compute_precision, measure_precision, unmeasured_choice
from .recipe import Recipe

#: what ``auto`` resolves to, by the measured choice
LIGHTNING_PRECISION = {"fp32": "32-true", "bf16": "bf16-mixed"}


def uses_cuda(recipe: Recipe) -> bool:
    """Whether the recipe trains on CUDA GPUs (``gpu``/``cuda``, or ``auto`` where CUDA is available)."""
    accelerator = recipe.trainer.accelerator
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def measure_training_precision(module: torch.nn.Module, batch: int, *, repeats: int = 3) -> PrecisionChoice:
    """Time ``D(G(z, c), c).mean().backward()`` for ``batch`` random samples in fp32 and under bf16 autocast on the
    CPU, and choose. The module is left as it was: gradients cleared, buffers that training-mode passes update
    (spectral norm's vectors, G's running mean of w) restored, the global random stream not consumed."""
    generator, discriminator = module.generator, module.discriminator
    buffers = {name: buffer.clone() for name, buffer in module.named_buffers()}
    device = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):  # the run's own random stream is not consumed by the measurement
        torch.manual_seed(0)
        z = torch.randn(batch, generator.z_dim)
        c = torch.randn(batch, generator.c_dim)
        c = c / c.norm(dim=-1, keepdim=True)

        def step(precision: str) -> None:
            with compute_precision(precision, device):
                discriminator(generator(z, c), c).float().mean().backward()

        try:
            choice = measure_precision(step, repeats=repeats)
        finally:
            module.zero_grad(set_to_none=True)
            with torch.no_grad():
                for name, buffer in module.named_buffers():
                    buffer.copy_(buffers[name])
    return choice


def resolve_training_precision(recipe: Recipe, build_module: Callable[[], torch.nn.Module], *,
                               world_size: int = 1) -> tuple[Recipe, str]:
    """``recipe`` with ``trainer.precision: auto`` replaced by ``32-true`` or ``bf16-mixed``, and a line saying what
    was chosen and why; any other precision is returned as is (and the line is empty). ``build_module`` is called
    only when a measurement is needed (a CPU with bf16 instructions). Several CPU processes take fp32: each
    would time on its own and they must agree."""
    if recipe.trainer.precision != "auto":
        return recipe, ""
    if uses_cuda(recipe):
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        chosen = "bf16-mixed" if bf16 else "32-true"
        line = f"trainer.precision auto -> {chosen} ({'bf16 is supported' if bf16 else 'no bf16'} on this GPU)"
    elif world_size > 1:
        chosen = "32-true"
        line = f"trainer.precision auto -> 32-true ({world_size} CPU processes: not measured, fp32 on every rank)"
    elif (untimed := unmeasured_choice(torch.device("cpu"))) is not None:
        chosen = "32-true"
        line = f"trainer.precision auto -> 32-true ({untimed.reason})"
    else:
        micro = recipe.optim.micro_batch_size
        choice = measure_training_precision(build_module(), micro)
        chosen = LIGHTNING_PRECISION[choice.precision]
        line = (f"trainer.precision auto -> {chosen} (one G+D forward and backward of {micro} images measured here: "
                f"fp32 {choice.fp32_s * 1000:.0f} ms, bf16 {choice.bf16_s * 1000:.0f} ms)")
    trainer = dataclasses.replace(recipe.trainer, precision=chosen)
    return dataclasses.replace(recipe, trainer=trainer), line
