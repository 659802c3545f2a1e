"""Converters for checkpoints of the original StyleGAN-T release."""
from .generator import CheckpointMismatchError, generator_from_official, load_state_dict_strict

__all__ = ["CheckpointMismatchError", "generator_from_official", "load_state_dict_strict"]

try:  # the discriminator converter lands with the discriminator package
    from .discriminator import discriminator_from_official  # noqa: F401

    __all__.append("discriminator_from_official")
except ImportError:  # pragma: no cover
    pass
