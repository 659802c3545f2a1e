"""How ``StyleGANT`` spreads over devices: FSDP2 sharding and activation checkpointing of its trained parts.

Only what trains is sharded (G's synthesis blocks, synthesis and mapping MLP, the same in its EMA copy, D's
trainable modules); frozen networks (text encoder, feature network, CLIP) stay whole on every rank.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch


def checkpoint_synthesis_blocks(generator: torch.nn.Module) -> None:
    """Recompute each synthesis block's activations in the backward pass instead of keeping them."""
    from torch.distributed._composable import checkpoint

    for block in generator.synthesis.blocks():
        checkpoint(block)


def shard_fsdp2(generators: Iterable[torch.nn.Module], discriminator_parts: Iterable[torch.nn.Module], mesh) -> None:
    """``fully_shard`` the generators' blocks, synthesis and mapping MLP and each trainable D part over ``mesh``.

    ``reshard_after_forward=True`` is required with two optimizers: otherwise parameters unsharded while G was
    toggled off keep ``requires_grad=False`` and the G step fails.
    """
    from torch.distributed.fsdp import fully_shard

    for generator in generators:
        for block in generator.synthesis.blocks():
            fully_shard(block, mesh=mesh, reshard_after_forward=True)
        fully_shard(generator.synthesis, mesh=mesh, reshard_after_forward=True)
        fully_shard(generator.mapping.mlp, mesh=mesh, reshard_after_forward=True)
    for part in discriminator_parts:
        fully_shard(part, mesh=mesh, reshard_after_forward=True)
