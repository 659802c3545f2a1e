"""Generator files: the single-file export and the pretrained folder (write), and the one reader of every kind.

Both kinds hold the same record: safetensors tensors plus ``format``, ``format_version``, ``generator_config``
(JSON of :meth:`GeneratorConfig.to_dict`), ``aliases`` (``{key: stored key}`` for tensors sharing memory),
``frozen`` (``{prefix: reference}``, see :mod:`.references`), ``source`` and ``stylegan_t_version``. The export
keeps the record in the safetensors metadata; the pretrained folder in ``config.json`` beside
``model.safetensors`` (laid out like diffusers' folders; diffusers itself cannot load it). A text tower that
was not trained is stored by reference.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import MissingWeightsError
from ..models.config import GeneratorConfig
from ..models.generator import Generator
from ..utils.atomic import atomic_path, atomic_write_text
from .formats import CONFIG_NAME, EXPECTED, FORMAT, FORMAT_VERSION, TEXT_ENCODER_PREFIX, WEIGHTS_NAME
from .references import FileDigests, make_reference, missing_file_error, open_clip_weights_file, relocate, verify_reference
from .strict import CheckpointLoadError, CheckpointNotFoundError, dedupe_for_safetensors, load_state_strict, without_prefixes

_JSON_FIELDS = ("generator_config", "aliases", "frozen", "source")

# --- writing --------------------------------------------------------------------------------------


def text_encoder_reference(generator: Generator, digests: FileDigests) -> dict[str, Any] | None:
    """The reference of the generator's text tower, or None when it must be stored by value (trained) or absent."""
    te = generator.text_encoder
    if te is None or not getattr(te, "by_reference", False):
        return None
    return make_reference(te.spec(), open_clip_weights_file(te.model_name, te.pretrained), te, digests)


def settle_tower_reference(generator: Generator) -> bool:
    """After weights were loaded into a generator's text tower by hand (e.g. converted from a snapshot): keep it
    by reference only if it still equals the tower its spec builds; returns the decision (also set on the tower)."""
    te = generator.text_encoder
    if te is None:
        return False
    from ..models.text_encoder import TextEncoder

    try:
        reference = TextEncoder(te.model_name, te.pretrained, seed=te.seed)
    except MissingWeightsError:
        te.by_reference = False
        return False
    te.by_reference = _same_tensors(te.state_dict(), reference.state_dict())
    return te.by_reference


def generator_record(
    generator: Generator,
    *,
    dtype: torch.dtype | None = None,
    source: Mapping[str, Any] | None = None,
    digests: FileDigests | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, record) of a generator as files store it; frozen networks by reference."""
    from .. import __version__

    frozen = {}
    ref = text_encoder_reference(generator, digests or FileDigests())
    if ref is not None:
        frozen[TEXT_ENCODER_PREFIX] = ref
    state = without_prefixes(generator.state_dict(), frozen)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    tensors, aliases = dedupe_for_safetensors(state)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator_config": generator.config.to_dict(),
        "aliases": aliases,
        "frozen": frozen,
        "source": dict(source or {"kind": "module"}),
        "stylegan_t_version": __version__,
    }
    return tensors, record


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def write_export(
    path: str | os.PathLike, generator: Generator, *, dtype: torch.dtype | None = None, source: Mapping[str, Any] | None = None
) -> Path:
    """One ``.safetensors`` file, the record in its metadata; ``dtype`` casts floating tensors (float16 halves it)."""
    tensors, record = generator_record(generator, dtype=dtype, source=source)
    metadata = {k: json.dumps(v, default=str) if k in _JSON_FIELDS else str(v) for k, v in record.items()}
    out = Path(path)
    _save_tensors(tensors, out, metadata)
    return out


def write_pretrained(
    folder: str | os.PathLike, generator: Generator, *, dtype: torch.dtype | None = None, source: Mapping[str, Any] | None = None
) -> Path:
    """A folder with ``config.json`` (the record) and ``model.safetensors`` (the tensors); returns the folder."""
    tensors, record = generator_record(generator, dtype=dtype, source=source)
    out = Path(folder)
    _save_tensors(tensors, out / WEIGHTS_NAME, {"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    atomic_write_text(out / CONFIG_NAME, json.dumps({"_class_name": "Generator", **record}, indent=1, default=str))
    return out


# --- reading --------------------------------------------------------------------------------------


def sniff(path: Path) -> str:
    """``pretrained`` (folder), ``safetensors``, ``torch`` (zip or legacy pickle) from the first bytes, else ``unknown``."""
    from ..utils.weight_files import SAFETENSORS, weights_format

    if path.is_dir():
        return "pretrained"
    kind = weights_format(path)
    return "unknown" if kind is None else "safetensors" if kind == SAFETENSORS else "torch"


def check_exists(path: Path) -> None:
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: '{path}'; {EXPECTED}")


def _check_record(record: Mapping[str, Any], path: Path) -> dict[str, Any]:
    if record.get("format") != FORMAT:
        raise CheckpointLoadError(
            f"'{path}' has no stylegan_t generator record (format={record.get('format')!r}, expected {FORMAT!r}); {EXPECTED}"
        )
    damaged = f"'{path}': damaged metadata"
    try:
        version = int(record.get("format_version", 0))
    except (TypeError, ValueError):
        raise CheckpointLoadError(f"{damaged}: format_version {record.get('format_version')!r} is not a number; "
                                  "export the generator again") from None
    for key in _JSON_FIELDS:
        if not isinstance(record.get(key, {}), dict):
            raise CheckpointLoadError(f"{damaged}: '{key}' is a {type(record[key]).__name__}, not a mapping; "
                                      "export the generator again")
    if not all(isinstance(v, str) for v in record.get("aliases", {}).values()):
        raise CheckpointLoadError(f"{damaged}: 'aliases' must map tensor names to tensor names; export the generator again")
    if version > FORMAT_VERSION:
        raise CheckpointLoadError(
            f"'{path}' has format version {version}; this stylegan_t reads up to {FORMAT_VERSION}: upgrade stylegan_t"
        )
    out = dict(record)
    out["format_version"] = version
    for key in _JSON_FIELDS:
        out.setdefault(key, {})
    return out


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed record of an export or pretrained folder: ``format``, ``generator_config``, ``frozen``, ``source``, ..."""
    from safetensors import safe_open

    path = Path(path)
    check_exists(path)
    if path.is_dir():
        config = path / CONFIG_NAME
        if not config.is_file() or not (path / WEIGHTS_NAME).is_file():
            raise CheckpointLoadError(f"folder '{path}' lacks {CONFIG_NAME} or {WEIGHTS_NAME}; {EXPECTED}")
        try:
            return _check_record(json.loads(config.read_text()), path)
        except json.JSONDecodeError as err:
            raise CheckpointLoadError(f"'{config}' is not valid JSON ({err})") from err
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
    except Exception as err:
        raise CheckpointLoadError(f"could not read '{path}' as safetensors ({err}); {EXPECTED}") from err
    if meta.get("format") != FORMAT:
        raise CheckpointLoadError(
            f"'{path}' is a safetensors file without stylegan_t generator metadata (format={meta.get('format')!r}, "
            f"expected {FORMAT!r}); {EXPECTED}"
        )
    try:
        parsed = {k: json.loads(v) if k in _JSON_FIELDS else v for k, v in meta.items()}
    except json.JSONDecodeError as err:
        raise CheckpointLoadError(f"'{path}': invalid JSON in the metadata ({err})") from err
    return _check_record(parsed, path)


def read_tensors(path: Path, record: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The stored tensors of an export / pretrained folder, aliases restored."""
    from safetensors.torch import load_file

    file = path / WEIGHTS_NAME if path.is_dir() else path
    try:
        state = load_file(str(file), device="cpu")
    except Exception as err:
        raise CheckpointLoadError(f"could not read the tensors of '{file}' ({err}); the file may be truncated") from err
    for key, stored in record["aliases"].items():
        if stored not in state:
            raise CheckpointLoadError(f"'{file}': damaged metadata: alias '{key}' names a tensor the file lacks "
                                      f"('{stored}'); export the generator again")
        state[key] = state[stored]
    return state


def parse_generator_config(data: Any, *, source: str) -> GeneratorConfig:
    try:
        return GeneratorConfig.from_dict(dict(data))
    except (TypeError, ValueError) as err:
        raise CheckpointLoadError(f"{source}: invalid generator_config in its metadata ({err})") from err


def build_generator(
    config: GeneratorConfig,
    state: Mapping[str, torch.Tensor],
    *,
    frozen: Mapping[str, Any],
    source: str,
    text_encoder: str | None = None,
    digests: FileDigests | None = None,
    anchors: Sequence[Path] = (),
) -> Generator:
    """Rebuild a generator from config + stored tensors; a text tower stored by reference is rebuilt and verified.

    ``text_encoder`` replaces the stored open_clip model (e.g. a ``local-dir:`` folder that moved); a tower stored
    by reference must still hold the same tensors. A relative path in the stored text encoder that does not exist
    from the working directory is looked for under ``anchors`` (the file's folder and its parents).
    """
    ref = frozen.get(TEXT_ENCODER_PREFIX)
    tower = {k: v for k, v in state.items() if k.startswith(TEXT_ENCODER_PREFIX + ".")}
    stored = config.text_encoder
    if ref is not None and text_encoder and text_encoder != stored.model and not text_encoder.startswith("local-dir:"):
        # checked before building: another architecture would be built (a ViT-L takes seconds) only to fail its checksum
        raise CheckpointLoadError(
            f"{source} was trained with the text tower {stored.model!r}; {text_encoder!r} cannot replace it: give the "
            "folder that tower moved to as 'local-dir:FOLDER' (CLI: --text-encoder)"
        )
    te = dataclasses.replace(stored, model=text_encoder or relocate(stored.model, list(anchors)),
                             pretrained=relocate(stored.pretrained, list(anchors)))
    build_config = dataclasses.replace(config, text_encoder=te)
    seed = int((ref or {}).get("spec", {}).get("seed", 0))
    try:
        generator = _build(build_config, seed)
    except MissingWeightsError as err:
        if ref is not None:
            raise missing_file_error(ref, err, name=TEXT_ENCODER_PREFIX, source=source, anchors=list(anchors)) from err
        if not tower:
            raise _cannot_build(build_config, err, source) from err
        # The file's tensors replace the tower's weights: build it without its weights file (random, seeded).
        build_config = dataclasses.replace(build_config, text_encoder=dataclasses.replace(te, pretrained="random"))
        try:
            generator = _build(build_config, seed)
        except MissingWeightsError as err2:
            raise _cannot_build(build_config, err2, source) from err2
    if tower and _same_tensors(tower, generator.state_dict()):
        state, tower = without_prefixes(state, [TEXT_ENCODER_PREFIX]), {}  # an older file's copy of the reference tower
    if ref is not None:
        verify_reference(ref, text_encoder_reference(generator, digests or FileDigests()), name=TEXT_ENCODER_PREFIX, source=source)
    load_state_strict(generator, state, source=source, by_reference=[] if tower else [TEXT_ENCODER_PREFIX])
    if generator.text_encoder is not None:
        generator.text_encoder.by_reference = not tower
    generator.config = config if text_encoder is None else build_config
    return generator.eval().requires_grad_(False)


def _build(config: GeneratorConfig, seed: int) -> Generator:
    from ..models.generator import build_text_encoder

    return Generator(config, text_encoder=build_text_encoder(config, seed=seed))


def _cannot_build(config: GeneratorConfig, err: Exception, source: str) -> CheckpointLoadError:
    return CheckpointLoadError(
        f"{source}: cannot build its text encoder {config.text_encoder.model!r}: {err}\nIf the open_clip folder moved, "
        "pass text_encoder='local-dir:/new/folder' (CLI: --text-encoder)."
    )


def _same_tensors(stored: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> bool:
    """Whether every stored tensor equals the module's (same dtype, shape and values)."""
    return all(k in own and v.dtype == own[k].dtype and v.shape == own[k].shape and torch.equal(v, own[k]) for k, v in stored.items())
