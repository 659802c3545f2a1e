"""Building blocks: pure-PyTorch ops and layers, importable one by one without Lightning."""
from .bias_act import ACTIVATION_GAINS, activate, bias_act
from .fourier import FourierFeatures
from .linear import MLP, EqualizedLinear
from .local_batchnorm import LocalBatchNorm1d
from .modconv import modulated_conv2d
from .spectral import spectral_conv1d
from .style import StyleSplit
from .upfirdn import downsample2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATION_GAINS",
    "activate",
    "bias_act",
    "FourierFeatures",
    "EqualizedLinear",
    "MLP",
    "LocalBatchNorm1d",
    "spectral_conv1d",
    "modulated_conv2d",
    "StyleSplit",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
    "downsample2d",
]
