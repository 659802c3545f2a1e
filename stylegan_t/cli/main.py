"""``stylegan-t`` entry point: dispatches to one module per sub-command.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int`` and imports heavy
dependencies inside ``run``. Only the chosen command's module is imported, so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("stylegan_t.cli.demo", "train the built-in CPU demo and print its text-alignment report"),
    "fit": ("stylegan_t.cli.fit", "train from a recipe YAML with optional section.key=value overrides"),
    "config": ("stylegan_t.cli.config", "print a recipe resolved and validated, with overrides applied"),
    "generate": ("stylegan_t.cli.generate", "generate images from prompts with a trained or exported generator"),
    "interpolate": ("stylegan_t.cli.interpolate", "interpolate between seeds or prompts into a GIF, MP4 or frames"),
    "export": ("stylegan_t.cli.export", "export the EMA generator of a training checkpoint to safetensors"),
    "convert-official": ("stylegan_t.cli.convert_official", "convert an original StyleGAN-T generator state dict"),
    "eval": ("stylegan_t.cli.eval", "compute FID / CLIP score over truncation values"),
    "make-shards": ("stylegan_t.cli.make_shards", "write WebDataset shards from images with captions"),
    "check-shards": ("stylegan_t.cli.check_shards", "report unreadable or caption-less samples per shard"),
    "pretrain-clip": ("stylegan_t.cli.pretrain_clip", "pretrain a small CLIP on image-text shards (offline text encoder)"),
}


def _top_level_help() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: stylegan-t COMMAND [options]", "", "StyleGAN-T text-to-image GAN.", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'stylegan-t COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_level_help())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"stylegan-t: unknown command {name!r}\n\n{_top_level_help()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"stylegan-t {name}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
