"""stylegan_t: StyleGAN-T (Sauer et al., 2023) as a modular PyTorch / Lightning library."""
__version__ = "0.1.0"

_LAZY = {"load": "stylegan_t.pipeline", "StyleGANTPipeline": "stylegan_t.pipeline",
         "load_discriminator": "stylegan_t.training.loading"}


def __getattr__(name: str):
    """``stylegan_t.load`` / ``stylegan_t.StyleGANTPipeline`` / ``stylegan_t.load_discriminator`` import torch only
    when first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stylegan_t' has no attribute {name!r}")
