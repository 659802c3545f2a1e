"""stylegan_t: StyleGAN-T (Sauer et al., 2023) as a modular PyTorch / Lightning library."""
__version__ = "0.1.0"
