"""Evaluation metrics (SPEC "Evaluation"): FID, CLIP score and the FID-CLIP trade-off over truncation.

All pretrained networks come from local files; see docs/evaluation.md.
"""
from .clip_score import OpenCLIPScore
from .fid import (
    FID,
    INCEPTION_WEIGHTS_FILE,
    default_inception_path,
    keep_out_of_checkpoint,
    load_inception,
    resize_uint8,
    to_uint8,
)
from .tradeoff import accumulate_reals, evaluate_tradeoff, iter_image_folder, plot_tradeoff, save_results_json

__all__ = [
    "FID",
    "INCEPTION_WEIGHTS_FILE",
    "OpenCLIPScore",
    "accumulate_reals",
    "default_inception_path",
    "evaluate_tradeoff",
    "iter_image_folder",
    "keep_out_of_checkpoint",
    "load_inception",
    "plot_tradeoff",
    "resize_uint8",
    "save_results_json",
    "to_uint8",
]
