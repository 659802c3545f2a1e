"""The built-in demo: procedural captioned scenes, a detector for what they show, and the alignment report."""
from .alignment import alignment_report, format_report, heldout_prompts
from .detector import detect
from .scenes import ATTRIBUTES, parse_caption, render, sample
from .shards import ensure_demo_shards

__all__ = [
    "alignment_report",
    "format_report",
    "heldout_prompts",
    "detect",
    "ATTRIBUTES",
    "parse_caption",
    "render",
    "sample",
    "ensure_demo_shards",
    "run_demo",
]


def __getattr__(name: str):
    if name == "run_demo":  # Lightning is only imported when the demo runs
        from .run import run_demo

        return run_demo
    raise AttributeError(name)
