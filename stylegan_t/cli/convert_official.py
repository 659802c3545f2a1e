"""``stylegan-t convert-official STATE_DICT.pt OUT.safetensors --img-resolution R --channel-base B
--channel-max M --num-res-blocks N --text-encoder SPEC``: an original generator state dict -> an export."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("state_dict", help="torch.save()-d state_dict() of the original StyleGAN-T generator")
    parser.add_argument("out", help="output .safetensors export")
    parser.add_argument("--img-resolution", type=int, required=True, help="output resolution, e.g. 64")
    parser.add_argument("--channel-base", type=int, required=True, help="e.g. 32768 (lite) or 65536 (full)")
    parser.add_argument("--channel-max", type=int, required=True, help="e.g. 512 (lite) or 2048 (full)")
    parser.add_argument("--num-res-blocks", type=int, required=True, help="residual pairs per block, e.g. 2 (lite), 3 (full)")
    parser.add_argument("--text-encoder", required=True, metavar="SPEC",
                        help="open_clip architecture of the text tower, e.g. ViT-L-14-quickgelu or local-dir:/folder "
                             "(its weights come from the state dict)")
    parser.add_argument("--z-dim", type=int, default=64, help="latent size (default 64)")


def run(args: argparse.Namespace) -> int:
    from ..export import CheckpointLoadError, convert_official_to_export, read_export_metadata
    from ..utils.local_files import MissingWeightsError

    if not args.out.endswith(".safetensors"):
        raise SystemExit(f"stylegan-t convert-official: the output must be a .safetensors file, got {args.out!r}")
    try:
        out = convert_official_to_export(
            args.state_dict, args.out, img_resolution=args.img_resolution, channel_base=args.channel_base,
            channel_max=args.channel_max, num_res_blocks=args.num_res_blocks, text_encoder=args.text_encoder,
            z_dim=args.z_dim,
        )
    except (CheckpointLoadError, MissingWeightsError, ValueError) as err:
        raise SystemExit(f"stylegan-t convert-official: {err}")
    meta = read_export_metadata(out)
    print(f"converted {args.state_dict} -> {out} ({out.stat().st_size / 2**20:.1f} MiB, "
          f"format {meta['format']} v{meta['format_version']}); load with stylegan_t.load({str(out)!r})")
    return 0
