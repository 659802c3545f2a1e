"""Data: WebDataset shards and image folders to batches of images in [-1, 1] with captions; shard tools.

Imports torch, PIL and webdataset only (no Lightning). See docs/data.md.
"""
from .batch import Batch, DataCounts
from .config import DataConfig, SourceConfig
from .decode import CorruptSample, ImageTooSmall, MissingCaption, decode_caption, decode_image, open_image, pil_to_tensor
from .folder import ImageFolderDataset, collate_folder
from .loader import CountingLoader, ShardLoader
from .shard_check import ShardReport, check_shard, check_shards
from .shard_tools import MakeShardsResult, make_shards
from .sources import expand_urls, read_tar_samples
from .webdataset_pipeline import NoSamplesError, ShardedImageTextDataset

__all__ = [
    "DataConfig",
    "SourceConfig",
    "CorruptSample",
    "ImageTooSmall",
    "MissingCaption",
    "decode_caption",
    "decode_image",
    "open_image",
    "pil_to_tensor",
    "ImageFolderDataset",
    "collate_folder",
    "MakeShardsResult",
    "ShardReport",
    "check_shard",
    "check_shards",
    "make_shards",
    "expand_urls",
    "Batch",
    "DataCounts",
    "CountingLoader",
    "NoSamplesError",
    "ShardedImageTextDataset",
    "ShardLoader",
    "read_tar_samples",
]
