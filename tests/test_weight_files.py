"""Pretrained weight files by content: any container under any name, open_clip's file names and a local Hugging Face
cache; a preflight that reads what each file holds before any model is built; frozen networks identified by their
tensors, found from any working directory. Tiny models only."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import TINY_CLIP_CONFIG, write_tiny_clip_dir

from stylegan_t.errors import CheckpointError, MissingWeightsError, WeightsFileError
from stylegan_t.models import TextEncoder
from stylegan_t.utils.weight_files import read_weight_shapes, read_weights, weights_format, weights_sha256

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = "stylegan-t-tiny"  # the tiny architecture shipped with stylegan_t stands in for ViT-L-14-quickgelu
HUB_ID = "timm/vit_large_patch14_clip_224.openai"


def tiny_clip_state(seed: int = 0) -> dict[str, torch.Tensor]:
    from stylegan_t.models.open_clip_loader import create_open_clip

    torch.manual_seed(seed)
    return create_open_clip(TINY)[0].state_dict()


def write_hub_cache(cache: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """A Hugging Face cache as huggingface_hub writes it: blobs, ``refs/main`` and a snapshot of symlinks."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for name, data in files.items():
        blob = repo / "blobs" / f"blob{len(data)}{name.replace('.', '')}"
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def safetensors_bytes(state: dict[str, torch.Tensor], tmp: Path) -> bytes:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))  # as open_clip's hub export writes it
    return tmp.read_bytes()


def assert_tower_equals(encoder: TextEncoder, state: dict[str, torch.Tensor]) -> None:
    own = encoder.model.state_dict()
    assert own and all(torch.equal(v, state[k]) for k, v in own.items())


# --- 1. by content, not by name -------------------------------------------------------------------------

def doc_section(title: str) -> str:
    text = (REPO_ROOT / "docs" / "weights.md").read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_docs_vit_l14_steps_work_literally_with_a_tiny_clip(tmp_path, monkeypatch):
    """Every command of docs/weights.md's ViT-L/14 section, run as written (the architecture name swapped for a tiny
    one); only the download itself is simulated: open_clip's hub file in the Hugging Face cache layout."""
    section = doc_section("## Getting ViT-L/14 `openai` onto an offline machine")
    blocks = re.findall(r"```(bash|python)\n(.*?)```", section, re.S)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for env in ("STYLEGAN_T_WEIGHTS", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.chdir(work)
    state = tiny_clip_state(seed=1)
    env = dict(os.environ)
    loaded = 0
    for kind, code in blocks:
        code = code.replace("ViT-L-14-quickgelu", TINY)
        if kind == "python":
            namespace = {"TextEncoder": TextEncoder}
            exec(code, namespace)  # noqa: S102  (the doc's own lines)
            assert_tower_equals(namespace["enc"], state)
            loaded += 1
            continue
        for line in code.strip().splitlines():
            if line.startswith("pip install"):
                continue
            if line.startswith("python -c") and "create_model" in line:  # the download: what open_clip fetches
                assert "cache_dir='clip_cache'" in line
                data = safetensors_bytes(state, tmp_path / "download.safetensors")
                write_hub_cache(work / "clip_cache", HUB_ID, {"open_clip_model.safetensors": data})
                continue
            if line.startswith("export "):
                name, value = line[len("export "):].split("=", 1)
                env[name] = os.path.expandvars(value.replace("$PWD", str(work)))
                monkeypatch.setenv(name, env[name])
                continue
            out = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, check=True).stdout
            if line.startswith("find"):
                found = out.split()
                assert len(found) == 1 and found[0].endswith("/open_clip_model.safetensors"), out
                assert f"models--{HUB_ID.replace('/', '--')}/snapshots/" in found[0]
    assert loaded == 3  # tag in the weights folder, a .pt path holding safetensors, hf-hub from the local cache
    assert weights_format(work / "ViT-L-14-openai.pt") == "safetensors"


@pytest.fixture()
def tiny_state():
    return tiny_clip_state(seed=2)


def test_every_container_under_every_name_reads_the_same_tensors(tmp_path, tiny_state):
    from safetensors.torch import save_file

    save_file(tiny_state, str(tmp_path / "a.safetensors"))
    torch.save(tiny_state, tmp_path / "b.bin")  # zip archive
    torch.save(tiny_state, tmp_path / "c.pt", _use_new_zipfile_serialization=False)  # legacy pickle
    (tmp_path / "d.pth").write_bytes((tmp_path / "a.safetensors").read_bytes())  # safetensors under a torch name
    torch.save({"state_dict": {f"module.{k}": v for k, v in tiny_state.items()}, "epoch": 3}, tmp_path / "e.pt")
    names = ["a.safetensors", "b.bin", "c.pt", "d.pth", "e.pt"]
    assert [weights_format(tmp_path / n) for n in names] == [
        "safetensors", "torch zip archive", "legacy torch pickle", "safetensors", "torch zip archive"]
    digests = set()
    for name in names:
        state = read_weights(tmp_path / name)
        assert state.keys() == tiny_state.keys() and all(torch.equal(v, tiny_state[k]) for k, v in state.items()), name
        shapes = read_weight_shapes(tmp_path / name)
        assert {k: tuple(v.shape) for k, v in shapes.items()} == {k: tuple(v.shape) for k, v in tiny_state.items()}
        assert all(v.device.type == "meta" for v in shapes.values())
        digests.add(weights_sha256(tmp_path / name))
        assert_tower_equals(TextEncoder(TINY, str(tmp_path / name)), tiny_state)
    assert len(digests) == 1
    assert (tmp_path / ("a.safetensors.tensors-sha256.json")).is_file()  # computed once, kept beside the file
    changed = dict(tiny_state)
    changed["logit_scale"] = changed["logit_scale"] + 1
    save_file(changed, str(tmp_path / "f.safetensors"))
    assert weights_sha256(tmp_path / "f.safetensors") not in digests


class Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_bad_weight_files_are_one_line_without_running_code(tmp_path, tiny_state):
    marker = tmp_path / "ran"
    torch.save({"weights": tiny_state, "x": Hostile(marker)}, tmp_path / "hostile.pt")
    full = tmp_path / "full.safetensors"
    from safetensors.torch import save_file

    save_file(tiny_state, str(full))
    (tmp_path / "truncated.safetensors").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    torch.save(tiny_state, tmp_path / "zip.pt")
    (tmp_path / "truncated.pt").write_bytes((tmp_path / "zip.pt").read_bytes()[:5000])
    (tmp_path / "text.pt").write_text("hello")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    for name, words in [("hostile.pt", "plain data only"), ("truncated.safetensors", "truncated"),
                        ("truncated.pt", "truncated"), ("text.pt", "not a weights file"), ("list.pt", "not a state dict")]:
        for read in (read_weights, read_weight_shapes):
            with pytest.raises(WeightsFileError) as err:
                read(tmp_path / name, what="open_clip weights")
            message = str(err.value)
            assert "\n" not in message and name in message and words in message, message
            assert "weights_only=False" not in message and "PyTorch" not in message  # our words, not torch's
            assert len(message) - len(str(tmp_path)) < 300, message
        with pytest.raises(WeightsFileError):
            TextEncoder(TINY, str(tmp_path / name))
    assert not marker.exists()


def test_open_clip_file_names_folders_and_the_local_hub_cache(tmp_path, monkeypatch, tiny_state):
    import huggingface_hub

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    folder = tmp_path / "export"
    folder.mkdir()
    torch.save(tiny_state, folder / "open_clip_pytorch_model.bin")
    assert_tower_equals(TextEncoder(TINY, str(folder / "open_clip_pytorch_model.bin")), tiny_state)
    assert_tower_equals(TextEncoder(TINY, str(folder)), tiny_state)  # a folder holding open_clip's file name
    cache = tmp_path / "cache"
    from stylegan_t.models.open_clip_loader import shipped_config

    config = json.dumps({"model_cfg": shipped_config(TINY), "preprocess_cfg": {}}).encode()
    write_hub_cache(cache, "someone/tiny-clip", {"open_clip_config.json": config, "open_clip_pytorch_model.bin":
                                                 (folder / "open_clip_pytorch_model.bin").read_bytes()})
    with pytest.raises(MissingWeightsError, match="not in a local Hugging Face cache") as err:
        TextEncoder("hf-hub:someone/tiny-clip")
    assert "models--someone--tiny-clip" in str(err.value)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    enc = TextEncoder("hf-hub:someone/tiny-clip")  # config and weights from the cached snapshot
    assert_tower_equals(enc, tiny_state)
    assert enc(["a red circle"]).shape == (1, enc.dim)


# --- 2. the preflight reads what it checks -----------------------------------------------------------------

TINY_VIT = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0}


def vit_recipe(tmp_path: Path, dino: Path, *extra: str):
    from stylegan_t.training.recipe import load_recipe

    kwargs = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_VIT.items()) + "}"
    return load_recipe("tiny-cpu", [
        f"data.urls={tmp_path}", f"run.dir={tmp_path / 'run'}", "model.discriminator.feature_network.kind=vit",
        "model.discriminator.feature_network.model=vit_small_patch16_224", "model.discriminator.feature_network.taps=[0,1]",
        f"model.discriminator.feature_network.timm_kwargs={kwargs}", f"model.discriminator.feature_network.weights={dino}",
        *extra,
    ])


def write_vit(path: Path, **changes) -> Path:
    import timm

    vit = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0, **{**TINY_VIT, **changes})
    torch.save(vit.state_dict(), path)
    return path


def test_preflight_names_the_file_and_first_keys_that_differ_before_any_model(tmp_path, monkeypatch, tiny_state):
    from stylegan_t.training import module
    from stylegan_t.training.preflight import preflight
    from stylegan_t.training.weight_checks import check_weight_contents

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the weight files were checked")

    monkeypatch.setattr(module.StyleGANT, "__init__", no_model)
    good = write_vit(tmp_path / "dino_vits16.pth")
    check_weight_contents(vit_recipe(tmp_path, good))
    wider = write_vit(tmp_path / "wide.pth", embed_dim=48)  # another ViT under the DINO name
    with pytest.raises(WeightsFileError) as err:
        preflight(vit_recipe(tmp_path, wider), check_data=False)
    message = str(err.value)
    assert "\n" not in message and message.startswith("model.discriminator.feature_network.weights")
    assert "wide.pth" in message and "cls_token: file [1, 1, 48] vs model [1, 1, 32]" in message
    deeper = write_vit(tmp_path / "deep.pth", depth=3)
    assert "unexpected blocks.2." in str(pytest.raises(WeightsFileError, check_weight_contents, vit_recipe(tmp_path, deeper)).value)
    # A CLIP of another width as the text encoder's file, and the same file as the guidance CLIP: both named at once.
    other = dict(TINY_CLIP_CONFIG["model_cfg"])
    folder = Path(write_tiny_clip_dir(tmp_path / "other_clip", config={"model_cfg": other})[len("local-dir:"):])
    clip_file = folder / "open_clip_pytorch_model.bin"
    recipe = vit_recipe(tmp_path, wider, f"model.generator.text_encoder.pretrained={clip_file}")
    with pytest.raises(WeightsFileError) as err:
        check_weight_contents(recipe)
    message = str(err.value)
    assert message.startswith("2 weights files") and "model.generator.text_encoder.pretrained" in message
    assert "open_clip_pytorch_model.bin" in message and "positional_embedding" in message and "wide.pth" in message


def test_preflight_checks_inception_and_init_from(tmp_path, tiny_state):
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    from stylegan_t.persistence import CHECKPOINT_KIND
    from stylegan_t.training.recipe import load_recipe
    from stylegan_t.training.weight_checks import check_weight_contents, expected_module_shapes, inception_shapes

    with pytest.MonkeyPatch.context() as patch:  # torch-fidelity's own network, built once without any weights
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        real = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    assert {k: tuple(v.shape) for k, v in inception_shapes().items()} == {k: tuple(v.shape) for k, v in real.state_dict().items()}
    inception = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({k: torch.zeros(v.shape) for k, v in inception_shapes().items()}, inception)
    base = [f"data.urls={tmp_path}", f"run.dir={tmp_path / 'run'}", "eval.every_kimg=1", f"eval.inception_weights={inception}"]
    check_weight_contents(load_recipe("tiny-cpu", base))
    torch.save(tiny_state, tmp_path / "not_inception.pth")
    with pytest.raises(WeightsFileError, match="eval.inception_weights.*not_inception.pth.*missing Conv2d_1a_3x3"):
        check_weight_contents(load_recipe("tiny-cpu", [*base[:3], f"eval.inception_weights={tmp_path / 'not_inception.pth'}"]))

    def checkpoint(resolution: int) -> Path:
        recipe = load_recipe("tiny-cpu", [*base[:2], f"model.generator.img_resolution={resolution}"])
        state = {k: torch.zeros(v.shape) for k, v in expected_module_shapes(recipe).items() if "text_encoder" not in k}
        path = tmp_path / f"r{resolution}.ckpt"
        torch.save({"state_dict": state, "stylegan_t": {"kind": CHECKPOINT_KIND, "frozen": {}}}, path)
        return path

    same, other = checkpoint(16), checkpoint(32)
    check_weight_contents(load_recipe("tiny-cpu", [*base[:2], f"model.init_from={same}"]))
    grown = load_recipe("tiny-cpu", [*base[:2], "model.generator.img_resolution=32", f"model.init_from={same}"])
    check_weight_contents(grown)  # progressive growing: the new blocks are new keys, the shared ones fit
    with pytest.raises(CheckpointError, match="r32.ckpt' does not fit this model") as err:
        check_weight_contents(load_recipe("tiny-cpu", [*base[:2], f"model.init_from={other}", "model.generator.preset=lite"]))
    assert str(err.value).startswith("model.init_from: ") and "\n" not in str(err.value) and "vs model" in str(err.value)


def test_fit_with_another_vit_as_dino_exits_2_before_writing_the_run_folder(tmp_path, monkeypatch, capsys):
    from stylegan_t.cli.main import main
    from stylegan_t.training import module

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the weight files were checked")

    monkeypatch.setattr(module.StyleGANT, "__init__", no_model)
    kwargs = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_VIT.items()) + "}"
    (tmp_path / "000.tar").write_bytes(b"")
    wrong = write_vit(tmp_path / "dino_vits16.pth", embed_dim=48)
    status = main(["fit", "tiny-cpu", f"data.urls={tmp_path}/000.tar", f"run.dir={tmp_path / 'run'}",
                   "model.discriminator.feature_network.kind=vit", "model.discriminator.feature_network.model=vit_small_patch16_224",
                   "model.discriminator.feature_network.taps=[0,1]", f"model.discriminator.feature_network.timm_kwargs={kwargs}",
                   f"model.discriminator.feature_network.weights={wrong}"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "dino_vits16.pth" in lines[0] and "cls_token" in lines[0]
    assert not (tmp_path / "run").exists()


# --- 3. identity by content, found from anywhere --------------------------------------------------------------

def test_reference_is_the_tensors_in_any_container(tmp_path, tiny_state):
    from safetensors.torch import save_file

    from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig
    from stylegan_t.persistence import read_generator, write_export
    from stylegan_t.utils.weight_files import state_sha256

    weights = tmp_path / "clip.safetensors"
    save_file(tiny_state, str(weights))
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(TINY, str(weights))))
    export = write_export(tmp_path / "g.safetensors", G)
    torch.save(tiny_state, weights)  # the same tensors, now a torch zip archive under the same name
    read_generator(export)
    changed = dict(tiny_state)
    changed["logit_scale"] = changed["logit_scale"] + 1
    torch.save(changed, weights)
    with pytest.raises(CheckpointError, match="tensor sha256 " + state_sha256(tiny_state)):
        read_generator(export)
    # A reference written before tensor digests (sha256 of the file's bytes) still verifies against that file.
    import hashlib

    from stylegan_t.persistence.generator_files import read_record

    torch.save(tiny_state, weights)
    record = read_record(export)
    ref = record["frozen"]["mapping.text_encoder"]
    old = {"spec": ref["spec"], "file": ref["file"], "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    from stylegan_t.persistence.references import verify_reference

    current = {**ref, "tensors_sha256": weights_sha256(weights)}
    verify_reference(old, current, name="mapping.text_encoder", source="old export")
    with pytest.raises(CheckpointError, match="file sha256"):
        verify_reference({**old, "sha256": "0" * 64}, current, name="mapping.text_encoder", source="old export")


def test_checkpoint_with_relative_references_loads_from_any_folder(tmp_path, monkeypatch):
    from stylegan_t.persistence import read_generator
    from stylegan_t.training.module import StyleGANT
    from stylegan_t.training.recipe import load_recipe

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    write_tiny_clip_dir(project / "runs" / "demo" / "tiny_clip")
    recipe = load_recipe("tiny-cpu", ["data.urls=runs/demo/data", "run.dir=runs/demo",
                                      "model.generator.text_encoder.model=local-dir:runs/demo/tiny_clip"])
    model = StyleGANT(recipe)
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    model.on_save_checkpoint(checkpoint)
    assert checkpoint["stylegan_t"]["frozen"]["generator.mapping.text_encoder"]["file"].startswith("runs/demo/tiny_clip/")
    ckpt = project / "runs" / "demo" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save(checkpoint, ckpt)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    G = read_generator(ckpt)
    assert G(torch.randn(1, G.z_dim), ["a red circle"]).shape == (1, 3, 16, 16)
    (project / "runs" / "demo" / "tiny_clip" / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(MissingWeightsError) as err:
        read_generator(ckpt)
    message = " ".join(str(err.value).split())
    assert "runs/demo/tiny_clip" in message and str(elsewhere) in message and str(ckpt.parent) in message
    assert "ViT-L" not in message and "open_clip.create_model" not in message and "local-dir:/new/folder" in message
