"""Discriminator folders: ``config.json`` (class, ``c_dim``, config, frozen references) + ``model.safetensors``.

The same contract as the generator's pretrained folder: what was trained (the heads) is stored by value, a
backbone built from the config (paper Sec. 3.2: the frozen DINO network) by reference to its weights file and
checksum. A subclass's own backbone has no such description and is stored by value. Reading never imports the
class a folder names: the caller picks it (``MyD.from_pretrained(folder)``) and a different one is refused.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import MissingWeightsError
from ..utils.atomic import atomic_write_text
from .formats import CONFIG_NAME, WEIGHTS_NAME
from .generator_files import _save_tensors
from .references import FileDigests, make_reference, missing_file_error, spec_weights_file, verify_reference
from .strict import CheckpointLoadError, CheckpointNotFoundError, dedupe_for_safetensors, load_state_strict, without_prefixes

if TYPE_CHECKING:
    from ..models.discriminator import ProjectedDiscriminator

#: ``config.json["format"]`` of a discriminator folder
DISCRIMINATOR_FORMAT = "stylegan_t.discriminator"
DISCRIMINATOR_FORMAT_VERSION = 1
#: the backbone's prefix inside the discriminator's ``state_dict``
FEATURE_NETWORK_PREFIX = "feature_network"


def class_name(cls: type) -> str:
    """``package.module:Class``, as folders record the class that wrote them."""
    return f"{cls.__module__}:{cls.__qualname__}"


def feature_network_reference(discriminator: ProjectedDiscriminator, digests: FileDigests | None = None) -> dict[str, Any] | None:
    """The backbone's reference (spec, file, checksum), or None when it is stored by value."""
    spec = discriminator.feature_network_spec()
    if spec is None:
        return None
    return make_reference(spec, spec_weights_file(spec), discriminator.feature_network, digests or FileDigests())


def write_discriminator(folder: str | os.PathLike, discriminator: ProjectedDiscriminator) -> Path:
    """Write the folder (tensors first, then ``config.json``, each atomically); returns the folder."""
    from .. import __version__

    frozen = {}
    reference = feature_network_reference(discriminator)
    if reference is not None:
        frozen[FEATURE_NETWORK_PREFIX] = reference
    tensors, aliases = dedupe_for_safetensors(without_prefixes(discriminator.state_dict(), frozen))
    out = Path(folder)
    _save_tensors(tensors, out / WEIGHTS_NAME, {"format": DISCRIMINATOR_FORMAT})
    record = {
        "_class_name": class_name(type(discriminator)),
        "format": DISCRIMINATOR_FORMAT,
        "format_version": DISCRIMINATOR_FORMAT_VERSION,
        "c_dim": discriminator.c_dim,
        "discriminator_config": dataclasses.asdict(discriminator.config),
        "aliases": aliases,
        "frozen": frozen,
        "stylegan_t_version": __version__,
    }
    atomic_write_text(out / CONFIG_NAME, json.dumps(record, indent=1, default=str))
    return out


def read_discriminator_record(folder: Path) -> dict[str, Any]:
    """``config.json`` of a discriminator folder, checked to be one (one line naming what it is otherwise)."""
    if not folder.exists():
        raise CheckpointNotFoundError(f"'{folder}' does not exist")
    config = folder / CONFIG_NAME
    if not folder.is_dir() or not config.is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise CheckpointLoadError(
            f"'{folder}' is not a discriminator folder ({CONFIG_NAME} + {WEIGHTS_NAME} written by save_pretrained)")
    try:
        record = json.loads(config.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise CheckpointLoadError(f"'{config}' is not readable JSON ({type(err).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != DISCRIMINATOR_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise CheckpointLoadError(f"'{folder}' holds a {found!r}, not a discriminator ({DISCRIMINATOR_FORMAT})")
    return record


def read_discriminator(folder: str | os.PathLike, cls: type[ProjectedDiscriminator], *, device: str | torch.device = "cpu"):
    """Build ``cls`` from a folder's config, check its backbone against the stored reference, load the rest strictly."""
    from safetensors.torch import load_file

    from ..models.discriminator import DiscriminatorConfig

    folder = Path(folder)
    record = read_discriminator_record(folder)
    written_by = record.get("_class_name")
    if written_by != class_name(cls):
        raise CheckpointLoadError(
            f"'{folder}' was written by '{written_by}'; read it with that class: {str(written_by).split(':')[-1]}.from_pretrained(...)"
            " (a file never imports code on its own)")
    config = DiscriminatorConfig.from_dict(record["discriminator_config"])
    frozen = record.get("frozen") or {}
    try:
        discriminator = cls(int(record["c_dim"]), config)
    except MissingWeightsError as err:
        ref = frozen.get(FEATURE_NETWORK_PREFIX, {})
        raise missing_file_error(ref, err, name=FEATURE_NETWORK_PREFIX, source=str(folder)) from None
    if FEATURE_NETWORK_PREFIX in frozen:
        verify_reference(frozen[FEATURE_NETWORK_PREFIX], feature_network_reference(discriminator),
                         name=FEATURE_NETWORK_PREFIX, source=str(folder))
    tensors = load_file(str(folder / WEIGHTS_NAME))
    for key, stored in (record.get("aliases") or {}).items():
        tensors[key] = tensors[stored]
    load_state_strict(discriminator, tensors, source=str(folder), by_reference=list(frozen))
    return discriminator.to(device).eval()
