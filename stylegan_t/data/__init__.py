"""Data: WebDataset shards and image folders to batches of images in [-1, 1] with captions (no Lightning)."""
from .config import DataConfig, SourceConfig
from .decode import CorruptSample, decode_caption, decode_image
from .folder import ImageFolderDataset
from .sources import expand_urls
from .webdataset_pipeline import NoSamplesError, ShardedImageTextDataset

__all__ = [
    "DataConfig",
    "SourceConfig",
    "CorruptSample",
    "decode_caption",
    "decode_image",
    "ImageFolderDataset",
    "expand_urls",
    "NoSamplesError",
    "ShardedImageTextDataset",
]
