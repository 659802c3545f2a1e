"""Contrastive pretraining of a small open_clip model on one's own image-text shards (``stylegan-t pretrain-clip``).

Lightning-free: torch, open_clip and the project's data pipeline only.
"""
from .config import PretrainClipConfig, PretrainClipError
from .retrieval import format_scores, retrieval_scores
from .train import PretrainClipResult, pretrain_clip

__all__ = ["PretrainClipConfig", "PretrainClipError", "PretrainClipResult", "format_scores", "pretrain_clip", "retrieval_scores"]
