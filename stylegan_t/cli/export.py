"""``stylegan-t export CKPT OUT.safetensors [--dtype float16]``: the EMA generator as a portable export."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ckpt", help="training checkpoint (.ckpt from `stylegan-t fit`) or an existing export")
    parser.add_argument("out", help="output .safetensors file (weights + JSON config in its metadata, no pickle)")
    parser.add_argument("--dtype", default=None, choices=("float32", "float16", "bfloat16"),
                        help="store floating tensors in this dtype (default: as trained, float32)")
    parser.add_argument("--text-encoder", default=None, metavar="MODEL",
                        help="override the stored open_clip spec, e.g. local-dir:/moved/folder")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..errors import UserError
    from ..export import export_generator, read_export_metadata
    from ..persistence import read_generator_and_info
    from ..utils.files import check_writable_file

    if not args.out.endswith(".safetensors"):
        raise UserError(f"the output must be a .safetensors file, got {args.out!r}")
    check_writable_file(args.out, option="output")  # before the checkpoint is read
    generator, info = read_generator_and_info(args.ckpt, device="cpu", text_encoder=args.text_encoder)  # CheckpointError: main
    source = {"file": Path(args.ckpt).name, **{k: v for k, v in info.items() if k != "source"}}
    dtype = getattr(torch, args.dtype) if args.dtype else None
    out = export_generator(generator, args.out, dtype=dtype, source=source)
    meta = read_export_metadata(out)
    n = sum(p.numel() for p in generator.parameters())
    cfg = meta["generator_config"]
    print(f"exported {'EMA generator' if info.get('ema', True) else 'generator'} of {args.ckpt}"
          + (f" ({info['images_seen'] / 1000:g} kimg)" if "images_seen" in info else ""))
    print(f"  {out}: {out.stat().st_size / 2**20:.1f} MiB, {n / 1e6:.2f}M parameters, "
          f"{cfg['img_resolution']}x{cfg['img_resolution']}, text encoder {cfg['text_encoder']['model']!r}")
    print(f"  format {meta['format']} v{meta['format_version']}; load with stylegan_t.load({str(out)!r})")
    return 0
