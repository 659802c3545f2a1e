"""``stylegan-t interpolate PATH --prompt A [--prompt-b B] --seeds 0,5 --steps 16 --out FILE.gif|FILE.mp4|frames/``.

Without ``--prompt-b``: a walk through the seeds in order (``0,5,9``: 0 -> 5 -> 9), ``--steps`` frames
per segment, z interpolated by slerp (or ``--method lerp``). With ``--prompt-b``: prompt interpolation
at one seed, keeping ``x = f(z)`` and moving the text part of ``w`` (paper Sec. 4.3, Fig. on prompt interpolation).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..errors import UserError
from ..utils.files import check_writable_dir, check_writable_file
from .generate import add_common_arguments, check_common_arguments, load_pipeline, seeds_arg

VIDEO_HELP = "write an animated GIF (--out FILE.gif) or PNG frames (--out DIR/) instead"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--prompt", required=True, help="text prompt (the start prompt with --prompt-b)")
    parser.add_argument("--prompt-b", default=None, help="end prompt: interpolate between prompts at one seed")
    parser.add_argument("--seeds", type=seeds_arg, default=None,
                        help="seeds to walk through, e.g. 0,5 (default 0,1; one seed with --prompt-b)")
    parser.add_argument("--steps", type=int, default=16, help="frames per segment, both ends included (default 16)")
    parser.add_argument("--method", default="slerp", choices=("slerp", "lerp"), help="z interpolation for seed walks")
    parser.add_argument("--fps", type=float, default=12.0, help="frames per second of the GIF / MP4 (default 12)")
    parser.add_argument("--out", required=True, help="FILE.gif, FILE.mp4 (needs imageio[ffmpeg] or ffmpeg) or a folder DIR/ for PNG frames")


def output_kind(out: str) -> str:
    """``gif`` / ``mp4`` / ``frames`` from the ``--out`` value."""
    path = Path(out)
    suffix = path.suffix.lower()
    if out.endswith(("/", "\\")) or path.is_dir() or not suffix:
        return "frames"
    if suffix in (".gif", ".mp4"):
        return suffix[1:]
    raise ValueError(f"--out {out!r}: unsupported extension {suffix!r}; use .gif, .mp4 or a folder ending in '/'")


def mp4_backend() -> str:
    """``imageio`` (with its ffmpeg plugin) or ``ffmpeg`` (binary on PATH); raises with what to do otherwise."""
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401

        return "imageio"
    except ImportError:
        pass
    if shutil.which("ffmpeg"):
        return "ffmpeg"
    raise RuntimeError(f"MP4 output needs `pip install imageio[ffmpeg]` or an ffmpeg binary on PATH; {VIDEO_HELP}")


def write_gif(frames: list, path: Path, *, fps: float) -> None:
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=max(int(round(1000 / fps)), 10), loop=0)


def write_mp4(frames: list, path: Path, *, fps: float, backend: str) -> None:
    import numpy as np

    # H.264 with yuv420p needs even sizes: pad by one pixel when odd.
    arrays = [np.asarray(f.convert("RGB")) for f in frames]
    h, w = arrays[0].shape[:2]
    arrays = [np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") for a in arrays]
    h, w = arrays[0].shape[:2]
    if backend == "imageio":
        try:
            import imageio.v2 as imageio
        except ImportError:  # imageio < 2.16
            import imageio

        with imageio.get_writer(str(path), fps=fps, codec="libx264", macro_block_size=1) as writer:
            for a in arrays:
                writer.append_data(a)
        return
    import subprocess

    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(a.tobytes() for a in arrays), check=True)


def run(args: argparse.Namespace) -> int:
    try:
        kind = output_kind(args.out)
        backend = mp4_backend() if kind == "mp4" else None  # fail before generating anything
    except (ValueError, RuntimeError) as err:
        raise UserError(str(err)) from None
    if args.steps < 2:
        raise UserError(f"--steps must be >= 2 (both ends are included), got {args.steps}")
    if not (args.fps > 0 and args.fps < float("inf")):
        raise UserError(f"--fps must be a positive number, got {args.fps}")
    check_common_arguments(args)
    seeds = args.seeds
    if args.prompt_b is not None:
        seeds = seeds or [0]
        if len(seeds) != 1:
            raise UserError(f"with --prompt-b give one seed (got {len(seeds)})")
    else:
        seeds = seeds or [0, 1]
        if len(seeds) < 2:
            raise UserError("a seed walk needs at least two seeds, e.g. --seeds 0,5 (or give --prompt-b)")
    if kind == "frames":  # the output is checked last, before loading: no folder is made for a bad argument
        check_writable_dir(args.out, option="--out")
    else:
        check_writable_file(args.out, option="--out")

    pipe = load_pipeline(args, "interpolate")
    print(f"loaded {args.path or args.model}: {pipe}")
    common = dict(truncation_psi=args.truncation, noise_mode=args.noise_mode, batch_size=args.batch_size, progress=True)
    if args.prompt_b is not None:
        print(f"prompt interpolation at seed {seeds[0]}: {args.prompt!r} -> {args.prompt_b!r}, {args.steps} frames")
        frames = pipe.interpolate_prompts(args.prompt, args.prompt_b, seeds[0], args.steps, **common)
    else:
        print(f"seed walk {' -> '.join(map(str, seeds))} ({args.method}) for {args.prompt!r}, {args.steps} frames per segment")
        frames = []
        for i, (a, b) in enumerate(zip(seeds[:-1], seeds[1:])):
            segment = pipe.interpolate_seeds(args.prompt, a, b, args.steps, method=args.method, **common)
            frames += segment if i == 0 else segment[1:]  # segments share their end frames

    out = Path(args.out)
    if kind == "frames":
        out.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            frame.save(out / f"frame_{i:04d}.png")
        print(f"wrote {len(frames)} frames to {out}")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "gif":
        write_gif(frames, out, fps=args.fps)
    else:
        write_mp4(frames, out, fps=args.fps, backend=backend)
    print(f"wrote {out} ({len(frames)} frames, {args.fps:g} fps, {out.stat().st_size} bytes)")
    return 0
