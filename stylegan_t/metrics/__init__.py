"""Evaluation metrics (paper Sec. 4, Table 2; Fig. on the FID-CLIP trade-off): FID, CLIP score and the FID-CLIP trade-off over truncation.

Real images for the metrics are read in one place, :mod:`.real_images` (on top of :mod:`stylegan_t.data`).
All pretrained networks come from local files; see docs/evaluation.md.
"""
from .captions import coco_captions, read_captions
from .clip_score import OpenCLIPScore
from .fid import (
    FID,
    INCEPTION_WEIGHTS_FILE,
    default_inception_path,
    keep_out_of_checkpoint,
    load_inception,
    metric_uint8,
    resize_uint8,
)
from .real_images import (
    RealCounts,
    RealData,
    iter_image_folder,
    iter_real_samples,
    read_reals,
    resize_like_reals,
)
from .tradeoff import accumulate_reals, evaluate_tradeoff, plot_tradeoff, save_results_json

__all__ = [
    "FID",
    "INCEPTION_WEIGHTS_FILE",
    "OpenCLIPScore",
    "RealCounts",
    "RealData",
    "accumulate_reals",
    "coco_captions",
    "default_inception_path",
    "evaluate_tradeoff",
    "iter_image_folder",
    "iter_real_samples",
    "keep_out_of_checkpoint",
    "load_inception",
    "plot_tradeoff",
    "read_captions",
    "read_reals",
    "resize_like_reals",
    "resize_uint8",
    "save_results_json",
    "metric_uint8",
]
