"""``stylegan-t pretrain-clip`` on captioned images it has never seen: make-shards from a folder, a few
contrastive steps, a ``local-dir:`` model that loads offline, a held-out retrieval score, reuse, errors."""
from __future__ import annotations

import copy
import json
import random
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from stylegan_t.cli.main import main
from stylegan_t.clip_pretraining import PretrainClipConfig, PretrainClipError, pretrain_clip, retrieval_scores
from stylegan_t.clip_pretraining.data import TrainingShards, is_held_out
from stylegan_t.clip_pretraining.word_check import fit_word_probe, named_values, template_prompts
from stylegan_t.data import DataConfig

#: invented words for four tints: nothing in the code or the tokenizer's training knows them
TINTS = {"vorpa": (200, 40, 160), "kelix": (20, 180, 170), "drumo": (120, 90, 20), "sintu": (90, 90, 230)}
FILLER = ("plim", "ostra", "quenby", "tavo", "muld", "erro")  # captions of a data set with nothing to learn


def write_folder(folder, n: int, *, seed: int = 0, informative: bool = True) -> None:
    """``n`` 24x24 coloured-noise PNGs with sidecar captions: the tint's word (or a random filler word)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        word = rng.choice(list(TINTS))
        noise = np.random.default_rng(i + 1000 * seed).normal(0, 30, (24, 24, 3))
        pixels = np.clip(np.array(TINTS[word])[None, None] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / f"img{i:03d}.png")
        (folder / f"img{i:03d}.txt").write_text(word if informative else rng.choice(FILLER))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    write_folder(root / "images", 160)
    assert main(["make-shards", str(root / "images"), str(root / "shards"), "--shard-size", "64"]) == 0
    assert len(list((root / "shards").glob("*.tar"))) == 3
    return root / "shards"


def run_cli(args, capsys):
    code = main(["pretrain-clip", *map(str, args), "--no-progress"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_trains_loads_offline_scores_and_reuses(shards, tmp_path, capsys, single_thread):
    out = tmp_path / "clip"
    args = [shards, out, "--steps", "20", "--batch-size", "32", "--holdout-fraction", "0.25", "--lr", "3e-3"]
    code, printed, _ = run_cli(args, capsys)
    assert code == 0, printed
    assert "Held-out retrieval: 48 samples, 4 distinct captions" in printed and "image->text" in printed and f"local-dir:{out}" in printed
    record = json.loads((out / "pretrain_clip.json").read_text())
    scores = record["retrieval"]
    assert 25 <= scores["samples"] <= 60 and record["settings"]["steps"] == 20
    # Tint words are learnable from the images: far above random ranking on samples never trained on.
    assert scores["chance_image_to_text_top1"] == 0.25 and scores["chance_text_to_image_top1"] < 0.35, scores
    assert scores["image_to_text_top1"] > 0.8 and scores["text_to_image_top1"] > 0.8, scores

    from safetensors.torch import load_file

    from stylegan_t.models.open_clip_loader import load_open_clip

    model, tokenizer = load_open_clip(f"local-dir:{out}")
    saved = load_file(out / "open_clip_model.safetensors")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    with torch.no_grad():
        assert model.encode_text(tokenizer(["vorpa plim"])).shape == (1, 64)
        assert model.encode_image(torch.zeros(2, 3, 32, 32)).shape == (2, 64)

    # The word check's reader: CLIP-feature centroids of held-out images per caption word
    probe = fit_word_probe(out, str(shards), {"tint": tuple(TINTS)})
    assert probe.real_accuracy["tint"] > 0.9 and probe.real_samples["tint"] == scores["samples"]
    image = torch.from_numpy(np.array(TINTS["kelix"], dtype=np.float32)).div(127.5).sub(1).reshape(3, 1, 1).expand(3, 24, 24)
    assert probe.detect(image) == {"tint": "kelix"}

    stamp = (out / "open_clip_model.safetensors").stat().st_mtime_ns
    code, printed, _ = run_cli(args, capsys)
    assert code == 0 and "reused" in printed and "Held-out retrieval" in printed
    assert (out / "open_clip_model.safetensors").stat().st_mtime_ns == stamp
    code, printed, _ = run_cli([*args[:3], "2", *args[4:]], capsys)  # other settings: trained again
    assert code == 0 and "reused" not in printed
    assert json.loads((out / "pretrain_clip.json").read_text())["settings"]["steps"] == 2


def test_captions_unrelated_to_the_images_score_about_chance(tmp_path, single_thread):
    write_folder(tmp_path / "images", 160, informative=False)
    assert main(["make-shards", str(tmp_path / "images"), str(tmp_path / "shards"), "--shard-size", "64"]) == 0
    cfg = PretrainClipConfig(steps=20, batch_size=32, holdout_fraction=0.25, lr=3e-3)
    scores = pretrain_clip(str(tmp_path / "shards"), tmp_path / "clip", cfg, progress=False).scores
    assert scores["image_to_text_top1"] < scores["chance_image_to_text_top1"] + 0.3, scores
    assert scores["text_to_image_top1"] < scores["chance_text_to_image_top1"] + 0.3, scores


def test_held_out_samples_never_reach_training(shards):
    data = DataConfig(urls=str(shards), batches_per_epoch=12, sample_shuffle=0)
    dataset = TrainingShards(data, holdout_fraction=0.25, resolution=32, batch_size=16, seed=0)
    keys = {k for batch in dataset for k in batch["key"]}
    assert keys and not any(is_held_out(k, 0.25) for k in keys)
    with tarfile.open(next(shards.glob("*.tar"))) as tar:
        all_keys = {m.name.split(".")[0] for m in tar.getmembers()}
    assert any(is_held_out(k, 0.25) for k in all_keys)  # the split is not empty


def test_a_small_split_is_decoded_once_and_drawn_in_fresh_orders(shards, monkeypatch):
    import stylegan_t.clip_pretraining.data as data

    urls = data.find_shards(str(shards))
    cfg = PretrainClipConfig(steps=9, batch_size=48, holdout_fraction=0.25)
    train = data.count_training_samples(urls, cfg)
    images, captions = data.decode_training_split(urls, cfg, 32)
    assert images.shape == (train, 3, 32, 32) and len(captions) == train and 0 < train < 160
    reads, read = [], data.read_tar_samples
    monkeypatch.setattr(data, "read_tar_samples", lambda url, **k: reads.append(url) or read(url, **k))
    batches = list(data.training_batches(urls, cfg, 32, train_samples=train))
    assert len(reads) == len(urls)  # every shard read once, for 9 batches of 48 (several passes)
    assert len(batches) == 9 and all(b[0].shape == (48, 3, 32, 32) and len(b[1]) == 48 for b in batches)
    # each pass over the split is a permutation: the first `train` images drawn are the split, each once
    as_bytes = lambda x: sorted(row.numpy().tobytes() for row in x)  # noqa: E731
    assert as_bytes(torch.cat([b[0] for b in batches])[:train]) == as_bytes(images)
    assert not torch.equal(batches[0][0], images[:48])  # shuffled, not in shard order
    again = list(data.training_batches(urls, cfg, 32, train_samples=train))
    assert all(torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(batches, again))  # seeded
    # a split larger than the memory budget streams through the shard pipeline as before
    monkeypatch.setattr(data, "IN_MEMORY_BYTES", 0)
    reads.clear()
    streamed = list(data.training_batches(urls, cfg, 32, train_samples=train))
    assert len(streamed) == 9 and reads == []


def test_caption_tokens_remember_captions_and_match_the_tokenizer():
    from stylegan_t.clip_pretraining.train import CaptionTokens

    calls = []

    def tokenizer(texts):
        calls.append(list(texts))
        return torch.tensor([[len(t), ord(t[0])] for t in texts])

    tokens = CaptionTokens(tokenizer, limit=3)
    assert tokens(["ab", "c", "ab"]).tolist() == [[2, 97], [1, 99], [2, 97]]
    assert tokens(["c", "ab"]).tolist() == [[1, 99], [2, 97]] and calls == [["ab", "c"]]  # remembered
    tokens(["xyz", "w"])  # over the limit: forgets, then tokenizes what it needs
    assert calls[-1] == ["xyz", "w"] and len(tokens.rows) == 2


def test_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    code, _, err = run_cli([tmp_path / "nothing", tmp_path / "o1"], capsys)
    assert code == 2 and "no .tar shards" in err and "make-shards" in err and len(err.strip().splitlines()) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    tarfile.open(empty / "00000.tar", "w").close()
    code, _, err = run_cli([empty, tmp_path / "o2", "--steps", "2"], capsys)
    assert code == 2 and "no usable image-caption sample" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o2").exists()

    code, _, err = run_cli([empty, tmp_path / "o3", "--batch-size", "1"], capsys)
    assert code == 2 and "batch_size=1" in err
    with pytest.raises(PretrainClipError, match="unknown open_clip architecture"):
        pretrain_clip(str(empty), tmp_path / "o4", PretrainClipConfig(model="no-such-net"))


def test_retrieval_scores_rank_distinct_captions_and_count_identical_ones_as_correct():
    captions = ["a", "a", "b", "c"]
    image = torch.eye(4)
    text = torch.eye(4)[[1, 0, 2, 3]]  # image 0 is closest to caption 1: the same text, so still correct
    scores = retrieval_scores(image, text, captions)
    assert scores["image_to_text_top1"] == 1.0 and scores["text_to_image_top1"] == 1.0
    assert scores["captions"] == 3 and scores["chance_image_to_text_top1"] == pytest.approx(1 / 3)
    assert scores["chance_text_to_image_top1"] == pytest.approx((2 / 4 + 2 / 4 + 1 / 4 + 1 / 4) / 4)
    assert scores["chance_text_to_image_top5"] == 1.0  # 4 candidates: top-5 always hits
    wrong = retrieval_scores(image, torch.eye(4)[[2, 3, 0, 1]], captions)
    assert wrong["image_to_text_top1"] == 0.0 and wrong["text_to_image_top1"] == 0.0


def test_word_check_prompts_and_caption_words():
    assert named_values("Two RED circles, not blue-ish", ("red", "blue", "green")) == ["red", "blue"]
    assert named_values("a dark red car", ("dark red", "red")) == ["dark red", "red"]
    assert named_values("reddish", ("red",)) == []
    prompts = template_prompts("a {color} {shape}", {"color": ("red", "blue"), "shape": ("circle", "square", "star")}, 12)
    assert len({p.text for p in prompts[:6]}) == 6 and prompts[0].text == "a {color} {shape}".format(**prompts[0].attributes)
    with pytest.raises(PretrainClipError, match="names none"):
        template_prompts("a thing", {"color": ("red", "blue")}, 4)


def test_default_steps_are_passes_over_the_training_split(shards, monkeypatch, tmp_path):
    """``steps: None`` (the CLI's default) counts the training samples from the tar headers and trains
    AUTO_PASSES passes over them, clipped to [AUTO_MIN_STEPS, AUTO_MAX_STEPS]."""
    from stylegan_t.clip_pretraining import config as config_module
    from stylegan_t.clip_pretraining.config import AUTO_MAX_STEPS, AUTO_MIN_STEPS, AUTO_PASSES, auto_steps
    from stylegan_t.clip_pretraining.data import count_training_samples, find_shards

    assert auto_steps(7782, 128) == 2432 == -(-AUTO_PASSES * 7782 // 128)  # the rotated shapes' training split
    assert auto_steps(100, 128) == AUTO_MIN_STEPS and auto_steps(10**7, 128) == AUTO_MAX_STEPS
    cfg = PretrainClipConfig(batch_size=32, holdout_fraction=0.25)
    assert cfg.steps is None
    urls = find_shards(str(shards))
    train = count_training_samples(urls, cfg)
    keys = [m.name.rsplit(".", 1)[0] for u in urls for m in tarfile.open(u) if m.name.endswith(".png")]
    assert train == sum(not is_held_out(k, 0.25) for k in keys) and 100 < train < 160
    monkeypatch.setattr(config_module, "AUTO_MIN_STEPS", 1)  # a test-sized budget: 40 passes of ~120 at 32 = ~150
    monkeypatch.setattr(config_module, "AUTO_PASSES", 2)
    result = pretrain_clip(str(shards), tmp_path / "clip", cfg, progress=False)
    assert result.steps == -(-2 * train // 32)
    record = json.loads((tmp_path / "clip" / "pretrain_clip.json").read_text())
    assert record["steps"] == result.steps and record["settings"]["steps"] is None
    assert pretrain_clip(str(shards), tmp_path / "clip", cfg, progress=False).reused


def test_a_resnet_image_tower_trains_and_feeds_the_discriminator(shards, tmp_path, single_thread):
    """``--model stylegan-t-tiny-conv``: the same pretraining with a small ResNet image tower, whose folder the
    discriminator reads through ``kind: open_clip`` (stage taps) and the generator's text encoder as usual."""
    from stylegan_t.models.discriminator import FeatureNetworkConfig, OpenCLIPResNetFeatureNetwork, build_feature_network
    from stylegan_t.models.text_encoder import TextEncoder

    cfg = PretrainClipConfig(model="stylegan-t-tiny-conv", steps=30, batch_size=32, holdout_fraction=0.25, lr=3e-3)
    trained = pretrain_clip(str(shards), tmp_path / "clip", cfg, progress=False)
    assert trained.scores["image_to_text_top1"] > trained.scores["chance_image_to_text_top1"] + 0.3, trained.scores
    net = build_feature_network(FeatureNetworkConfig(kind="open_clip", model=trained.spec, taps=[0, 1]))
    assert isinstance(net, OpenCLIPResNetFeatureNetwork)
    features = net(torch.rand(2, 3, 24, 24) * 2 - 1)
    assert [tuple(f.shape) for f in features.values()] == [(2, 64, 64), (2, 128, 16), (2, 16, 64)]
    assert TextEncoder(trained.spec)(["vorpa", "kelix"]).shape[0] == 2


def test_optimizer_is_fused_adamw_with_the_same_update_as_the_loop():
    """AdamW on torch's fused kernel (the per-tensor loop was 12% of a CPU step), no decay on biases and gains,
    and the same parameters after a few steps as torch's per-tensor implementation."""
    from stylegan_t.clip_pretraining.train import _optimizer

    cfg = PretrainClipConfig(steps=10)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 4))
    twin = copy.deepcopy(model)
    opt, _ = _optimizer(model, cfg)
    assert opt.defaults["fused"] is True
    assert [len(g["params"]) for g in opt.param_groups] == [2, 4] and opt.param_groups[1]["weight_decay"] == 0.0
    twin_params = dict(twin.named_parameters())
    by_name = {id(p): name for name, p in model.named_parameters()}
    ref = torch.optim.AdamW([{"params": [twin_params[by_name[id(p)]] for p in g["params"]], "weight_decay": g["weight_decay"]}
                             for g in opt.param_groups], lr=cfg.lr, foreach=False, fused=False)
    for step in range(3):
        x = torch.randn(5, 8, generator=torch.Generator().manual_seed(step))
        for net, o in ((model, opt), (twin, ref)):
            net(x).square().mean().backward()
            o.step()
            o.zero_grad()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
