"""Every stylegan_t file format in one Lightning-free package: constants, writers, the one reader and strict loader.

- :func:`write_export` / :func:`write_pretrained`: a generator as one ``.safetensors`` or a diffusers-style folder;
- :func:`read_generator`: any generator file (folder, export, training checkpoint) -> :class:`Generator`;
- :func:`load_state_strict`: the strict loader whose error lists missing, unexpected and mis-shaped keys;
- :mod:`.checkpoint`: the model part of training checkpoints; :mod:`.references`: frozen networks by reference.
"""
from .checkpoint import read_training_checkpoint, torch_load
from .formats import CHECKPOINT_KIND, CONFIG_NAME, EMA_PREFIX, FORMAT, FORMAT_VERSION, LIVE_PREFIX, WEIGHTS_NAME
from .generator_files import generator_record, read_record, settle_tower_reference, write_export, write_pretrained
from .reader import read_generator, read_generator_and_info
from .references import FileDigests, make_reference, verify_reference
from .strict import CheckpointLoadError, CheckpointNotFoundError, StateMismatchError, load_state_strict

__all__ = [
    "CHECKPOINT_KIND",
    "CONFIG_NAME",
    "EMA_PREFIX",
    "FORMAT",
    "FORMAT_VERSION",
    "LIVE_PREFIX",
    "WEIGHTS_NAME",
    "CheckpointLoadError",
    "CheckpointNotFoundError",
    "FileDigests",
    "StateMismatchError",
    "generator_record",
    "load_state_strict",
    "make_reference",
    "read_generator",
    "read_generator_and_info",
    "read_record",
    "read_training_checkpoint",
    "settle_tower_reference",
    "torch_load",
    "verify_reference",
    "write_export",
    "write_pretrained",
]
