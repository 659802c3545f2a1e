"""Converters for checkpoints of the original StyleGAN-T release: state dicts, and training snapshots
(``network-snapshot-*.pkl``, read without running code from them: :mod:`.safe_pickle`, docs/convert.md)."""
from ..persistence.strict import StateMismatchError
from .generator import generator_from_official

__all__ = ["StateMismatchError", "generator_from_official"]

from .discriminator import discriminator_from_official, discriminator_to_official  # noqa: E402

__all__ += ["discriminator_from_official", "discriminator_to_official"]

from .snapshot import OfficialSnapshot, discriminator_from_snapshot, generator_from_snapshot, read_snapshot  # noqa: E402
from .writers import convert_snapshot  # noqa: E402

__all__ += ["OfficialSnapshot", "convert_snapshot", "discriminator_from_snapshot", "generator_from_snapshot", "read_snapshot"]
