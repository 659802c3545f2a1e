"""Portable generator files: safetensors weights + JSON config, no pickle (STYLE: "exports in safetensors").

An export holds the EMA generator's ``state_dict()`` (text encoder included) as safetensors tensors and,
in the safetensors metadata (string -> string):

- ``format``: ``"stylegan_t.generator"``, ``format_version``: ``"1"``;
- ``generator_config``: JSON of :meth:`GeneratorConfig.to_dict` (rebuilds the network);
- ``aliases``: JSON ``{key: stored_key}`` for tensors that share memory (safetensors stores each once);
- ``source``: JSON describing where the weights came from; ``stylegan_t_version``.

:func:`load_generator` reads an export or a training checkpoint (``.ckpt`` from ``stylegan-t fit``) and
raises :class:`CheckpointLoadError` with one message naming what was expected for anything else.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .models.config import GeneratorConfig
from .models.generator import Generator

FORMAT = "stylegan_t.generator"
FORMAT_VERSION = 1
CHECKPOINT_KIND = "stylegan_t.training.StyleGANT"  # written by stylegan_t.training.StyleGANT
EMA_PREFIX = "generator_ema.module."
LIVE_PREFIX = "generator."

EXPECTED = (
    "expected a stylegan_t training checkpoint (.ckpt written by `stylegan-t fit`) or a generator export "
    "(.safetensors written by `stylegan-t export` or `stylegan-t convert-official`)"
)


class CheckpointLoadError(CheckpointError):
    """A file that is not (or not a readable) stylegan_t generator checkpoint or export."""


class CheckpointNotFoundError(CheckpointLoadError, FileNotFoundError):
    """The checkpoint / export path does not exist."""


# --- writing --------------------------------------------------------------------------------------


def _storage_key(t: torch.Tensor) -> tuple:
    return (t.device, t.untyped_storage().data_ptr())


def _dedupe_for_safetensors(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors refuses tensors that share memory: keep one copy of identical views (``aliases``), clone partial overlaps."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, list[tuple[str, torch.Tensor]]] = {}
    for key, value in state.items():
        value = value.detach()
        group = seen.setdefault(_storage_key(value), [])
        same = next(
            (k for k, t in group if t.shape == value.shape and t.stride() == value.stride()
             and t.storage_offset() == value.storage_offset() and t.dtype == value.dtype),
            None,
        )
        if same is not None:
            aliases[key] = same  # a tied weight: store it once
            continue
        group.append((key, value))
        # Clone when the tensor is a view into a larger or shared buffer; otherwise just make it contiguous.
        whole = value.is_contiguous() and value.storage_offset() == 0 and value.untyped_storage().nbytes() == value.nbytes
        tensors[key] = value.cpu().contiguous() if whole and len(group) == 1 else value.cpu().clone().contiguous()
    return tensors, aliases


def export_generator(
    generator_or_ckpt: Any,
    out_path: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    source: dict[str, Any] | None = None,
) -> Path:
    """Write a generator as ``out_path`` (safetensors + JSON config); returns the path.

    ``generator_or_ckpt``: a :class:`Generator`, a ``StyleGANT`` module (its EMA generator), a pipeline,
    or the path of a training checkpoint / export. ``dtype`` optionally casts floating tensors (e.g.
    ``torch.float16`` halves the file); loading casts back to float32.
    """
    from safetensors.torch import save_file

    from . import __version__

    source = dict(source or {})
    if isinstance(generator_or_ckpt, (str, os.PathLike)):
        path = Path(generator_or_ckpt)
        generator, info = load_generator(path, device="cpu")
        source = {**info, "file": path.name, **source}
    else:
        generator = _as_generator(generator_or_ckpt)
        source.setdefault("kind", "module")
    state = generator.state_dict()
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    tensors, aliases = _dedupe_for_safetensors(state)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "generator_config": json.dumps(generator.config.to_dict()),
        "aliases": json.dumps(aliases),
        "source": json.dumps(source, default=str),
        "stylegan_t_version": __version__,
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, out)  # never leave a half-written export behind
    return out


def _as_generator(obj: Any) -> Generator:
    if isinstance(obj, Generator):
        return obj
    ema = getattr(obj, "generator_ema", None)  # a StyleGANT LightningModule
    if ema is not None and isinstance(getattr(ema, "module", None), Generator):
        return ema.module
    if isinstance(getattr(obj, "generator", None), Generator):  # a StyleGANTPipeline
        return obj.generator
    raise TypeError(f"cannot export {type(obj).__name__}: expected a Generator, a StyleGANT module, a pipeline or a path")


def convert_official_to_export(
    state_dict_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    img_resolution: int,
    channel_base: int,
    channel_max: int,
    num_res_blocks: int,
    text_encoder: str,
    z_dim: int = 64,
) -> Path:
    """Convert an original StyleGAN-T generator ``state_dict()`` (``torch.save``-d) into an export."""
    from .convert.generator import CheckpointMismatchError, generator_from_official

    path = Path(state_dict_path)
    raw = _torch_load(path)
    if isinstance(raw, dict) and len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        raw = next(iter(raw.values()))  # e.g. {"G_ema": state_dict}
    if not _is_tensor_dict(raw):
        raise CheckpointLoadError(f"'{path}' is not a state dict (a dict of tensors); expected the original generator's state_dict()")
    try:
        generator = generator_from_official(
            raw, img_resolution=img_resolution, channel_base=channel_base, channel_max=channel_max,
            num_res_blocks=num_res_blocks, text_encoder=text_encoder, z_dim=z_dim,
        )
    except CheckpointMismatchError as err:
        raise CheckpointLoadError(f"'{path}': {err}") from err
    return export_generator(generator, out_path, source={"kind": "official", "file": path.name})


# --- reading --------------------------------------------------------------------------------------


def _sniff(path: Path) -> str:
    """``safetensors`` / ``torch`` (zip or legacy pickle) from the first bytes, else ``unknown``."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return "torch"
    if len(head) == 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n <= path.stat().st_size - 8:
            return "safetensors"
    return "unknown"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: '{path}'; {EXPECTED}")
    if not path.is_file():
        raise CheckpointLoadError(f"'{path}' is not a file; {EXPECTED}")


def _torch_load(path: Path) -> Any:
    _check_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, arbitrary pickle refused by weights_only, ...
        raise CheckpointLoadError(f"could not read '{path}' with torch.load(weights_only=True) ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else ''}); {EXPECTED}") from err


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _describe_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    keys = list(state)
    if any(k.startswith("mapping.clip.") or ".convs1." in k for k in keys):
        return ("an original StyleGAN-T generator state dict: convert it first with `stylegan-t convert-official` "
                "(it needs the architecture: --img-resolution, --channel-base, ...)")
    if any(k.startswith(("heads.", "dino.", "discriminator.", "feature_network.")) for k in keys):
        return "a discriminator state dict (stylegan_t.load needs a generator)"
    if any(k.startswith(("mapping.", "synthesis.")) for k in keys):
        return "a bare generator state dict without its config (export the training checkpoint instead)"
    shown = ", ".join(repr(k) for k in keys[:3])
    return f"a plain state dict of {len(keys)} tensors (keys {shown}, ...) without a generator config"


class _quiet_random_init_warning(logging.Filter):
    """Hide open_clip's "initialized randomly" warning while building: the file's weights are loaded next."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")

    def __enter__(self) -> None:
        logging.getLogger().addFilter(self)

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeFilter(self)


def _build(config: GeneratorConfig, state: Mapping[str, torch.Tensor], *, what: str, text_encoder: str | None) -> Generator:
    """Rebuild a generator from config + full state dict: the stored text encoder weights replace any pretrained ones."""
    from .convert.generator import CheckpointMismatchError, load_state_dict_strict
    from .utils.local_files import MissingWeightsError

    te = config.text_encoder
    te = dataclasses.replace(te, model=text_encoder or te.model, pretrained="random")  # weights come from the file
    build_config = dataclasses.replace(config, text_encoder=te)
    try:
        with _quiet_random_init_warning():
            generator = Generator(build_config)
    except MissingWeightsError as err:
        raise CheckpointLoadError(
            f"{what}: cannot build its text encoder {te.model!r}: {err}\nIf the open_clip folder moved, pass "
            "text_encoder='local-dir:/new/folder' (CLI: --text-encoder)."
        ) from err
    try:
        load_state_dict_strict(generator, state, what=what)
    except CheckpointMismatchError as err:
        raise CheckpointLoadError(str(err)) from err
    generator.config = config if text_encoder is None else build_config
    return generator.eval().requires_grad_(False)


def read_export_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed metadata of an export: ``format``, ``format_version``, ``generator_config``, ``source``, ..."""
    from safetensors import safe_open

    path = Path(path)
    _check_file(path)
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
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise CheckpointLoadError(
            f"'{path}' has export format version {version}; this stylegan_t reads up to {FORMAT_VERSION}: upgrade stylegan_t"
        )
    out: dict[str, Any] = dict(meta)
    for key in ("generator_config", "aliases", "source"):
        out[key] = json.loads(meta.get(key, "{}"))
    out["format_version"] = version
    return out


def load_exported_generator(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", text_encoder: str | None = None
) -> Generator:
    """An export -> eval-mode :class:`Generator` on ``device``; ``text_encoder`` overrides a moved ``local-dir:``."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_export_metadata(path)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as err:
        raise CheckpointLoadError(f"could not read the tensors of '{path}' ({err}); the file may be truncated") from err
    for key, stored in meta["aliases"].items():
        state[key] = state[stored]
    try:
        config = GeneratorConfig.from_dict(meta["generator_config"])
    except (TypeError, ValueError) as err:
        raise CheckpointLoadError(f"'{path}': invalid generator_config in the metadata ({err})") from err
    return _build(config, state, what=f"export '{path}'", text_encoder=text_encoder).to(device)


def generator_from_training_checkpoint(
    path: str | os.PathLike, *, ema: bool = True, device: str | torch.device = "cpu", text_encoder: str | None = None
) -> tuple[Generator, dict[str, Any]]:
    """(EMA generator, info) from a ``StyleGANT`` Lightning checkpoint; ``ema=False`` takes the live generator."""
    path = Path(path)
    ckpt = _torch_load(path)
    generator, info = _generator_from_ckpt_dict(ckpt, path=path, ema=ema, text_encoder=text_encoder)
    return generator.to(device), info


def _generator_from_ckpt_dict(ckpt: Any, *, path: Path, ema: bool, text_encoder: str | None) -> tuple[Generator, dict[str, Any]]:
    meta = ckpt.get("stylegan_t") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
        if _is_tensor_dict(ckpt):
            found = _describe_state_dict(ckpt)
        elif isinstance(ckpt, dict) and "state_dict" in ckpt:
            found = "a Lightning checkpoint of another model (no 'stylegan_t' entry of kind StyleGANT)"
        else:
            found = f"a {type(ckpt).__name__} that is not a checkpoint"
        raise CheckpointLoadError(f"'{path}' is {found}; {EXPECTED}")
    try:
        gen_cfg = ckpt["hyper_parameters"]["recipe"]["model"]["generator"]
        config = GeneratorConfig.from_dict(dict(gen_cfg))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointLoadError(f"'{path}': no valid hyper_parameters.recipe.model.generator ({err})") from err
    prefix = EMA_PREFIX if ema else LIVE_PREFIX
    state = {k[len(prefix):]: v for k, v in ckpt.get("state_dict", {}).items() if k.startswith(prefix)}
    if not state:
        raise CheckpointLoadError(f"'{path}': the checkpoint's state_dict has no '{prefix}*' tensors")
    generator = _build(config, state, what=f"training checkpoint '{path}' ({prefix}*)", text_encoder=text_encoder)
    info = {"kind": "training-checkpoint", "images_seen": int(meta.get("images_seen", 0)), "ema": ema}
    return generator, info


def load_generator(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", text_encoder: str | None = None
) -> tuple[Generator, dict[str, Any]]:
    """Auto-detect an export (safetensors) or a training checkpoint by content; -> (EMA generator, info)."""
    path = Path(path)
    _check_file(path)
    kind = _sniff(path)
    if kind == "safetensors":
        meta = read_export_metadata(path)
        generator = load_exported_generator(path, device=device, text_encoder=text_encoder)
        return generator, {"kind": "export", "source": meta["source"]}
    if kind == "torch":
        return generator_from_training_checkpoint(path, device=device, text_encoder=text_encoder)
    raise CheckpointLoadError(f"'{path}' is neither a safetensors file nor a torch checkpoint (unrecognized content); {EXPECTED}")


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointLoadError",
    "CheckpointNotFoundError",
    "convert_official_to_export",
    "export_generator",
    "generator_from_training_checkpoint",
    "load_exported_generator",
    "load_generator",
    "read_export_metadata",
]
