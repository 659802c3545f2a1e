"""The file formats' constants: one place for every key a stylegan_t checkpoint, export or pretrained folder uses."""
from __future__ import annotations

#: ``checkpoint["stylegan_t"]["kind"]`` of a training checkpoint written by ``StyleGANT`` (``stylegan-t fit``)
CHECKPOINT_KIND = "stylegan_t.training.StyleGANT"
#: the checkpoint's own entry (beside Lightning's ``state_dict``, ``optimizer_states``, ``hyper_parameters``)
CHECKPOINT_META = "stylegan_t"
#: Lightning's keys used here
STATE_DICT = "state_dict"
HYPER_PARAMETERS = "hyper_parameters"
#: where the generator sits in a training checkpoint's ``state_dict``
EMA_PREFIX = "generator_ema.module."
LIVE_PREFIX = "generator."
#: ``checkpoint["stylegan_t"][FROZEN]`` and an export's / pretrained folder's ``frozen`` entry:
#: ``{module prefix: reference}`` for frozen pretrained networks stored by reference, not by value
FROZEN = "frozen"

#: a generator file (single-file export or pretrained folder)
FORMAT = "stylegan_t.generator"
#: 1: every tensor stored; 2: frozen networks may be stored by reference (``frozen``)
FORMAT_VERSION = 2
#: the diffusers-style pretrained folder: JSON config + safetensors weights
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: the text tower's prefix inside a generator's ``state_dict``
TEXT_ENCODER_PREFIX = "mapping.text_encoder"

#: the tail of every "this file is not what was expected" message: what to give instead (kept short: one line)
EXPECTED = "give a .ckpt from `stylegan-t fit`, a .safetensors from `stylegan-t export` or a save_pretrained folder"

