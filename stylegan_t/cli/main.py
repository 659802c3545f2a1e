"""``stylegan-t`` entry point: dispatches to one module per sub-command.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int`` and imports heavy
dependencies inside ``run``. Only the chosen command's module is imported, so ``--help`` is fast.

User errors (:class:`stylegan_t.errors.UserError`, a bad argument, a file that cannot be read or written)
print as one line ``stylegan-t COMMAND: message`` on stderr with exit status 2; ``--debug`` (or
``STYLEGAN_T_DEBUG=1``) shows the traceback instead. Any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from typing import NoReturn

from ..errors import UserError

#: exit status for anything the user can fix (argparse uses 2 for usage errors too)
USER_ERROR = 2
DEBUG_ENV = "STYLEGAN_T_DEBUG"

#: command name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("stylegan_t.cli.demo", "train the built-in CPU demo and print its text-alignment report"),
    "fit": ("stylegan_t.cli.fit", "train from a recipe YAML with optional section.key=value overrides"),
    "config": ("stylegan_t.cli.config", "print a recipe resolved and validated, with overrides applied"),
    "generate": ("stylegan_t.cli.generate", "generate images from prompts with a trained or exported generator"),
    "interpolate": ("stylegan_t.cli.interpolate", "interpolate between seeds or prompts into a GIF, MP4 or frames"),
    "export": ("stylegan_t.cli.export", "export the EMA generator of a training checkpoint to safetensors"),
    "consolidate": ("stylegan_t.cli.consolidate", "write one checkpoint file from a sharded (FSDP) checkpoint folder"),
    "convert-official": ("stylegan_t.cli.convert_official", "convert an original StyleGAN-T generator state dict"),
    "eval": ("stylegan_t.cli.eval", "compute FID / CLIP score over truncation values"),
    "make-shards": ("stylegan_t.cli.make_shards", "write WebDataset shards from images with captions"),
    "check-shards": ("stylegan_t.cli.check_shards", "report unreadable or caption-less samples per shard"),
    "pretrain-clip": ("stylegan_t.cli.pretrain_clip", "pretrain a small CLIP on image-text shards (offline text encoder)"),
    "rehearse": ("stylegan_t.cli.rehearse", "rehearse a paper recipe on random weights: fit, resume, export, generate"),
    "word-check": ("stylegan_t.cli.word_check", "does a trained generator draw the words of its prompts? (your own data)"),
    "serve": ("stylegan_t.cli.serve", "a browser playground and JSON/HTTP API: prompt, seed, truncation, interpolation"),
}


def _top_level_help() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: stylegan-t COMMAND [options]", "", "StyleGAN-T text-to-image GAN.", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'stylegan-t COMMAND --help' for a command's options."]
    return "\n".join(lines)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``stylegan-t CMD: error: ...; see --help``), exit 2."""

    def error(self, message: str) -> NoReturn:
        dashed = re.search(r"--(\w+\.[\w.]+=\S*)", message) if "unrecognized arguments" in message else None
        if dashed:  # `--trainer.devices=2`: a recipe override written as an option
            message += f"; recipe overrides take no dashes: {dashed.group(1)}"
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def one_line(text: str) -> str:
    """A message on one line: newlines and runs of spaces folded. An error re-raised from a DataLoader
    worker carries the worker's traceback in its text: only the original message is kept."""
    text = str(text)
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if re.match(r"^[\w.]+: ", last) else last
    return " ".join(text.split())


def user_error_message(err: BaseException) -> str | None:
    """The one-line message for an exception the user can fix, or None for a bug (keeps its traceback)."""
    if isinstance(err, UserError):
        return one_line(err)
    if isinstance(err, SystemExit) and isinstance(err.code, str):
        return one_line(err.code)  # a command's `raise SystemExit("message")`
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"cannot access '{err.filename}': {err.strerror}"  # unreadable input, full disk, no permission
    try:
        import yaml

        if isinstance(err, yaml.YAMLError):  # a malformed recipe file that reached us unwrapped
            return "malformed YAML: " + one_line(err)
    except ImportError:  # pragma: no cover - omegaconf depends on PyYAML
        pass
    return None


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_level_help())
        return 0 if argv else USER_ERROR
    name = argv[0]
    if name not in COMMANDS:
        print(f"stylegan-t: unknown command {name!r} (choose from {', '.join(COMMANDS)}; see stylegan-t --help)",
              file=sys.stderr)
        return USER_ERROR
    try:
        return run_command(name, argv[1:])
    except SystemExit as err:
        if not isinstance(err.code, str):  # argparse (usage error: 2, --help: 0) or an explicit status
            return int(err.code or 0)
        return _report(name, err, debug)
    except Exception as err:  # noqa: BLE001 - classified below; bugs are re-raised
        if user_error_message(err) is None:
            raise
        return _report(name, err, debug)


def _report(name: str, err: BaseException, debug: bool) -> int:
    """Print a user error as one line (after its traceback with ``--debug``); the exit status."""
    if debug:
        traceback.print_exception(err)
    message, prefix = user_error_message(err) or "", f"stylegan-t {name}: "
    print(prefix + message.removeprefix(prefix), file=sys.stderr)
    for line in getattr(err, "details", None) or []:  # how-to lines, after the one-line message
        print(f"  {one_line(line)}", file=sys.stderr)
    return USER_ERROR


def parse_command(name: str, rest: list[str]) -> tuple[object, argparse.Namespace]:
    """(the command's module, ``rest`` parsed with its options); a usage error exits 2 with one line."""
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=f"stylegan-t {name}", description=help_)
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of user errors too (or set {DEBUG_ENV}=1)")
    module.add_arguments(parser)
    try:  # options and positionals in any order: `fit my.yaml --code dir/ optim.batch_size=8`
        return module, parser.parse_intermixed_args(rest)
    except TypeError:  # a parser argparse cannot intermix (e.g. an argparse.REMAINDER positional)
        return module, parser.parse_args(rest)


def run_command(name: str, rest: list[str]) -> int:
    """Parse ``rest`` with the command's options and run it."""
    module, args = parse_command(name, rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
