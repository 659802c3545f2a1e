"""The training checkpoint's layout has one owner (stylegan_t.persistence.training_layout): every part it names is
the module's attribute path, its metadata is the one dataclass, and the converter writes the same keys as fit."""
import dataclasses

import pytest
import torch

from stylegan_t.persistence.training_layout import (
    CHECKPOINT_KIND,
    CHECKPOINT_META,
    HYPER_PARAMETERS,
    OPTIMIZER_STATES,
    PARTS,
    STATE_DICT,
    STOCK_MODULE,
    CheckpointMeta,
    lightning_checkpoint,
)
from stylegan_t.training.module import StyleGANT
from stylegan_t.training.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("single_thread")


def build():
    """As fit builds it: seeded, so random frozen networks rebuild to the tensors their references name."""
    torch.manual_seed(0)
    return StyleGANT(load_recipe("tiny-cpu", ["loss.clip_weight=0.1", "loss.clip_model=stylegan-t-tiny",
                                              "loss.clip_pretrained=random"]))


@pytest.fixture(scope="module")
def module():
    return build()


def test_every_part_is_an_attribute_path_of_the_module(module):
    paths = {
        "generator": (), "generator_ema": (), "discriminator": (), "clip_guidance": (),
        "text_encoder": ("generator",), "feature_network": ("discriminator",),
    }
    assert set(paths) == {f.name for f in dataclasses.fields(PARTS)}
    for name, parents in paths.items():
        assert isinstance(module.get_submodule(PARTS.of(*parents, name)), torch.nn.Module), name
    assert module.get_submodule(PARTS.of("generator_ema", "text_encoder")) is module.generator.text_encoder  # shared


def test_state_dict_keys_are_composed_from_the_parts(module):
    tops = (PARTS.generator + ".", PARTS.generator_ema + ".", PARTS.discriminator + ".")
    state = module.state_dict()
    assert state and all(k.startswith(tops) for k in state)
    frozen = set(module.frozen_networks())
    assert frozen == {PARTS.of("generator", "text_encoder"), PARTS.of("generator_ema", "text_encoder"),
                      PARTS.of("discriminator", "feature_network"), PARTS.clip_guidance}
    assert not any(k.startswith(tuple(p + "." for p in frozen)) for k in state)  # stored by reference


def test_saved_metadata_is_the_dataclass(module):
    checkpoint = {STATE_DICT: dict(torch.nn.Module.state_dict(module))}
    module.images_seen = 24
    module.on_save_checkpoint(checkpoint)
    meta = checkpoint[CHECKPOINT_META]
    assert set(meta) == {f.name for f in dataclasses.fields(CheckpointMeta)}
    read = CheckpointMeta.read(checkpoint)
    assert (read.kind, read.module, read.images_seen) == (CHECKPOINT_KIND, STOCK_MODULE, 24)
    assert set(read.frozen) == set(module.frozen_networks())
    assert checkpoint[STATE_DICT].keys() == module.state_dict().keys()  # frozen tensors stripped on save
    again = build()
    again.on_load_checkpoint(checkpoint)
    assert again.images_seen == 24


def test_lightning_dict_for_writers_without_a_trainer(module):
    meta = CheckpointMeta(STOCK_MODULE, images_seen=8, frozen=module.frozen_references())
    ckpt = lightning_checkpoint(state_dict=module.state_dict(), optimizer_states=[{}, {}],
                                hyper_parameters=dict(module.hparams), meta=meta)
    assert {STATE_DICT, OPTIMIZER_STATES, HYPER_PARAMETERS, CHECKPOINT_META, "pytorch-lightning_version"} <= set(ckpt)
    assert CheckpointMeta.read(ckpt) == meta
