"""The built-in demo: procedural captioned scenes in WebDataset shards, a deterministic detector
of what an image shows, and the text-alignment report of a generator.

Importing this package needs numpy, Pillow and torch only; ``run_demo`` (training) loads Lightning lazily.
"""
from .alignment import Prompt, alignment_report, format_report, grid_prompts, heldout_prompts
from .detector import analyze, detect
from .scenes import ATTRIBUTES, COLORS, LAYOUTS, POSITIONS, SHAPES, Scene, compose_caption, parse_caption, random_scene, render, sample
from .shards import ensure_demo_shards

__all__ = [
    "ATTRIBUTES",
    "COLORS",
    "LAYOUTS",
    "POSITIONS",
    "SHAPES",
    "Prompt",
    "Scene",
    "alignment_report",
    "analyze",
    "compose_caption",
    "detect",
    "ensure_demo_shards",
    "format_report",
    "grid_prompts",
    "heldout_prompts",
    "parse_caption",
    "random_scene",
    "render",
    "run_demo",
    "sample",
]


def __getattr__(name: str):
    if name == "run_demo":  # the training app; imported on use so the data side stays light
        from .run import run_demo

        return run_demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
