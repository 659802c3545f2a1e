"""The file formats' constants: one place for every key a stylegan_t checkpoint, export or pretrained folder uses."""
from __future__ import annotations

# The training checkpoint's names live in .training_layout; exports and pretrained folders use FROZEN too.
from .training_layout import (  # noqa: F401 - re-exported
    CHECKPOINT_KIND,
    CHECKPOINT_META,
    EMA_PREFIX,
    FROZEN,
    HYPER_PARAMETERS,
    LIVE_PREFIX,
    STATE_DICT,
)

#: a generator file (single-file export or pretrained folder)
FORMAT = "stylegan_t.generator"
#: 1: every tensor stored; 2: frozen networks may be stored by reference (``frozen``)
FORMAT_VERSION = 2
#: the diffusers-style pretrained folder's JSON config
CONFIG_NAME = "config.json"
#: the diffusers-style pretrained folder's safetensors weights
WEIGHTS_NAME = "model.safetensors"
#: the text tower's prefix inside a generator's ``state_dict``
TEXT_ENCODER_PREFIX = "mapping.text_encoder"

#: the tail of every "this file is not what was expected" message: what to give instead (kept short: one line)
EXPECTED = "give a .ckpt from `stylegan-t fit`, a .safetensors from `stylegan-t export` or a save_pretrained folder"

