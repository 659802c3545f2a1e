"""Rehearsal of the paper recipes as a user runs them (fit -> resume -> export -> generate) with random weights
written where the real files go. CI runs the short form (lite-64, tiny architectures, same weight tags). The
other stages in short form and the real-size rehearsals are ``slow`` and opt-in, since they take minutes to an
hour on a CPU: ``STYLEGAN_T_REHEARSAL=small`` (full-64, full-256-freeze64, text-encoder, tiny architectures),
``=real`` (every paper recipe at real size, skipped without the memory it names) or ``=all``."""
import os
from pathlib import Path

import pytest
import torch

from stylegan_t.cli.rehearse import MARKER, RehearsalError, rehearse
from stylegan_t.errors import MissingWeightsError
from stylegan_t.utils.weight_files import DIGEST_SUFFIX

PAPER_RECIPES = ["lite-64", "full-64", "full-256-freeze64", "text-encoder"]
#: GiB of free memory a real-size CPU rehearsal needs (lite-64 measured: 12.1 GiB peak RSS, 3.8 GiB checkpoints)
REAL_SIZE_GIB = {"lite-64": 14, "full-64": 40, "full-256-freeze64": 48, "text-encoder": 48}


def test_short_rehearsal_of_lite64(tmp_path):
    weights, work = tmp_path / "weights", tmp_path / "work"
    report = rehearse("lite-64", weights=weights, work=work, small=True, log=lambda line: None)
    # The random files sit exactly where the recipe's tags point: the user's file names.
    written = {p.name for p in weights.iterdir() if not p.name.endswith(DIGEST_SUFFIX)}  # minus the digests' sidecars
    assert written == {"stylegan-t-tiny-openai.safetensors", "dino_vits16.pth", MARKER}
    assert report.checkpoint.name == "last.ckpt" and report.checkpoint_bytes > 0 and report.export.is_file()
    assert torch.load(report.checkpoint, weights_only=True)["stylegan_t"]["images_seen"] == 4  # 2 + 2 after resume
    for part in ("generator.mapping.text_encoder", "discriminator.feature_network", "clip_guidance"):
        # every pretrained network was loaded from the user's file and is stored by reference, not by value
        assert Path(report.frozen[part]).parent == weights, part
        assert part not in report.parameters, part
    image = report.images[0]
    from PIL import Image

    assert Image.open(image).size == (64, 64)
    assert os.environ.get("STYLEGAN_T_WEIGHTS") != str(weights)  # restored afterwards


@pytest.mark.parametrize("unset", ["model.discriminator.feature_network.weights=null",
                                   "model.generator.text_encoder.pretrained=null", "loss.clip_pretrained=null"])
def test_rehearsal_fails_when_a_network_would_be_random_by_omission(tmp_path, unset):
    with pytest.raises(MissingWeightsError, match=unset.split("=")[0]):
        rehearse("lite-64", weights=tmp_path / "weights", work=tmp_path / "work", small=True, extra=[unset], log=lambda line: None)
    assert not (tmp_path / "work" / "lite-64" / "checkpoints").exists()


def test_rehearsal_never_writes_next_to_real_weights(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "dino_vits16.pth").write_bytes(b"real weights")
    with pytest.raises(RehearsalError, match="empty folder"):
        rehearse("lite-64", weights=real, work=tmp_path / "work", small=True)
    assert (real / "dino_vits16.pth").read_bytes() == b"real weights"


def _free_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    return int(fields["MemAvailable"].split()[0]) / 2**20


def _opted_in(kind: str) -> bool:
    return os.environ.get("STYLEGAN_T_REHEARSAL", "") in (kind, "all")


@pytest.mark.slow
@pytest.mark.skipif(not _opted_in("small"), reason="set STYLEGAN_T_REHEARSAL=small (or all) to rehearse the other stages")
@pytest.mark.parametrize("name", PAPER_RECIPES[1:])
def test_short_rehearsal_of_the_other_stages(tmp_path_factory, name):
    """full-64, then full-256-freeze64 and text-encoder from its checkpoint (shared work folder)."""
    base = tmp_path_factory.getbasetemp() / "rehearsal-small"
    report = rehearse(name, weights=base / "weights", work=base / "work", small=True, log=print)
    assert torch.load(report.checkpoint, weights_only=True)["stylegan_t"]["images_seen"] == 4


@pytest.mark.slow
@pytest.mark.skipif(not _opted_in("real"), reason="set STYLEGAN_T_REHEARSAL=real (or all) for real-size rehearsals")
@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_real_size_rehearsal(tmp_path_factory, name):
    """Real architectures: ViT-L/14 text tower and guidance CLIP, DINO ViT-S/16, the lite / full generator."""
    if _free_gib() < REAL_SIZE_GIB[name]:
        pytest.skip(f"{name} at real size needs ~{REAL_SIZE_GIB[name]} GiB of free memory, {_free_gib():.0f} available")
    base = tmp_path_factory.getbasetemp() / "rehearsal-real"
    report = rehearse(name, weights=base / "weights", work=base / "work", micro_batch=1, log=print)
    weights = (base / "weights").resolve()
    frozen = ["discriminator.feature_network", "clip_guidance"]
    if name == "text-encoder":  # the text-encoder phase trains the ViT-L/14 tower: stored by value (~123M)
        assert report.parameters["generator.mapping.text_encoder"] > 100e6
    else:
        frozen.append("generator.mapping.text_encoder")
    for part in frozen:
        assert Path(report.frozen[part]).resolve().parent == weights, part  # stored by reference to the user's file
        assert part not in report.parameters, part
