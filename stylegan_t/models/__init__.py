"""Networks: generator (mapping, synthesis, text encoder) and, in ``discriminator``, the projected D."""
from .config import GENERATOR_PRESETS, GeneratorConfig, TextEncoderConfig
from .generator import TRAIN_MODES, Generator
from .mapping import MappingNetwork
from .synthesis import SynthesisBlock, SynthesisLayer, SynthesisNetwork, ToRGB
from .text_encoder import TextEncoder

__all__ = [
    "GENERATOR_PRESETS",
    "GeneratorConfig",
    "TextEncoderConfig",
    "TRAIN_MODES",
    "Generator",
    "MappingNetwork",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGB",
    "TextEncoder",
]
