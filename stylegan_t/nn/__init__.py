"""Building blocks: pure-PyTorch ops and layers, importable one by one without Lightning."""
from .bias_act import ACTIVATION_GAINS, activate, bias_act
from .linear import MLP, EqualizedLinear

__all__ = ["ACTIVATION_GAINS", "activate", "bias_act", "EqualizedLinear", "MLP"]
