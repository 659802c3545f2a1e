"""``stylegan-t convert-official SNAPSHOT.pkl OUT.safetensors [--text-arch MODEL] [--training CKPT --recipe R]``.

Converts a training snapshot of the original StyleGAN-T code (read without running any of its code; the
architecture is inferred from it) or, with the architecture flags, an original generator ``state_dict()``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

_STATE_DICT_FLAGS = ("img_resolution", "channel_base", "channel_max", "num_res_blocks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="network-snapshot-NNNNNN.pkl of the original training code, or a torch.save()-d "
                                       "state_dict() of its generator (then give the architecture flags below)")
    parser.add_argument("out", help="output: a .safetensors export of G_ema (snapshots: or a pretrained folder, where "
                                    "the generator supports save_pretrained)")
    parser.add_argument("--text-arch", "--text-encoder", dest="text_arch", metavar="MODEL",
                        help="open_clip architecture of the text tower (e.g. ViT-L-14-quickgelu, or local-dir:/folder); "
                             "snapshots: only needed when it is no known open_clip architecture (weights always come "
                             "from the file)")
    parser.add_argument("--training", metavar="CKPT",
                        help="snapshots: also write a training checkpoint with G, G_ema and D for `stylegan-t fit "
                             "--resume` / model.init_from, plus CKPT's recipe (.recipe.yaml) and DINO weights beside it")
    parser.add_argument("--recipe", default="lite-64",
                        help="with --training: recipe whose data/optim/loss/run settings the checkpoint carries; its "
                             "model section comes from the snapshot (default lite-64)")
    group = parser.add_argument_group("state dict input (a snapshot carries these itself)")
    group.add_argument("--img-resolution", type=int, help="output resolution, e.g. 64")
    group.add_argument("--channel-base", type=int, help="e.g. 32768 (lite) or 65536 (full)")
    group.add_argument("--channel-max", type=int, help="e.g. 512 (lite) or 2048 (full)")
    group.add_argument("--num-res-blocks", type=int, help="residual pairs per block, e.g. 2 (lite), 3 (full)")
    group.add_argument("--z-dim", type=int, default=64, help="latent size (default 64)")


def is_snapshot(path: str) -> bool:
    """A plain pickle (the original's snapshots) rather than a torch.save zip file."""
    try:
        with open(path, "rb") as f:
            return f.read(2) != b"PK"
    except OSError:
        return path.endswith(".pkl")


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError

    if not is_snapshot(args.source):
        return _run_state_dict(args)
    given = [f"--{f.replace('_', '-')}" for f in _STATE_DICT_FLAGS if getattr(args, f) is not None]
    try:
        if given:
            raise UserError(f"{', '.join(given)}: a snapshot's architecture is read from the snapshot itself")
        from ..convert.writers import convert_snapshot

        written = convert_snapshot(args.source, args.out, text_arch=args.text_arch)
        if args.training is not None:  # G, G_ema and D as a training checkpoint (this part needs Lightning)
            from ..training.snapshot_checkpoint import convert_snapshot_for_training

            written.update(convert_snapshot_for_training(args.source, args.training, text_arch=args.text_arch, recipe=args.recipe))
    except UserError as err:
        print(f"stylegan-t convert-official: {err}", file=sys.stderr)
        return 2
    for what, path in written.items():
        size = Path(path).stat().st_size / 2**20
        print(f"{what}: {path} ({size:.1f} MiB)")
    if "training" in written:
        print(f"continue training: stylegan-t fit {written['recipe']} data.urls=YOUR_SHARDS --resume {written['training']}")
    print(f"converted {args.source}; load with stylegan_t.load({str(written['generator'])!r})")
    return 0


def _run_state_dict(args: argparse.Namespace) -> int:
    """An original generator ``state_dict()``: the architecture comes from the flags."""
    from ..export import CheckpointLoadError, convert_official_to_export, read_export_metadata
    from ..utils.local_files import MissingWeightsError

    if not args.out.endswith(".safetensors"):
        raise SystemExit(f"stylegan-t convert-official: the output must be a .safetensors file, got {args.out!r}")
    missing = [f"--{f.replace('_', '-')}" for f in _STATE_DICT_FLAGS if getattr(args, f) is None]
    if not args.text_arch:
        missing.append("--text-encoder")
    if missing:
        raise SystemExit(f"stylegan-t convert-official: a state dict needs the architecture: {', '.join(missing)}")
    try:
        out = convert_official_to_export(
            args.source, args.out, img_resolution=args.img_resolution, channel_base=args.channel_base,
            channel_max=args.channel_max, num_res_blocks=args.num_res_blocks, text_encoder=args.text_arch,
            z_dim=args.z_dim,
        )
    except (CheckpointLoadError, MissingWeightsError, ValueError) as err:
        raise SystemExit(f"stylegan-t convert-official: {err}")
    meta = read_export_metadata(out)
    print(f"converted {args.source} -> {out} ({out.stat().st_size / 2**20:.1f} MiB, "
          f"format {meta['format']} v{meta['format_version']}); load with stylegan_t.load({str(out)!r})")
    return 0
