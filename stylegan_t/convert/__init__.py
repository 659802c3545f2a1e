"""Converters for checkpoints of the original StyleGAN-T release."""
from .generator import CheckpointMismatchError, generator_from_official, load_state_dict_strict

__all__ = ["CheckpointMismatchError", "generator_from_official", "load_state_dict_strict"]

from .discriminator import discriminator_from_official, discriminator_to_official  # noqa: E402

__all__ += ["discriminator_from_official", "discriminator_to_official"]
