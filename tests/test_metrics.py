"""Metrics (issue 5 item 4): FID with a tiny random extractor, CLIP score on a tiny random open_clip
model written to disk, state sync, the trade-off JSON/PNG, and the missing-Inception error."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from stylegan_t.errors import UserError
from stylegan_t.metrics import (
    FID,
    INCEPTION_WEIGHTS_FILE,
    OpenCLIPScore,
    evaluate_tradeoff,
    iter_image_folder,
    load_inception,
    metric_uint8,
    plot_tradeoff,
    read_captions,
    read_reals,
    save_results_json,
)
from stylegan_t.metrics.tradeoff import _nice_ticks
from stylegan_t.utils.local_files import MissingWeightsError

NUM_FEATURES = 8


class TinyExtractor(nn.Module):
    """Fixed random conv net: uint8 [N, 3, 16, 16] -> [N, 8]."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1234)
        self.conv = nn.Conv2d(3, NUM_FEATURES, 4, stride=4)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) * 0.3)
            self.conv.bias.zero_()
        self.seen_sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.uint8
        self.seen_sizes.append(tuple(x.shape[-2:]))
        return torch.tanh(self.conv(x.float() / 127.5 - 1)).mean(dim=(2, 3))


def random_images(n: int, seed: int, size: int = 16) -> torch.Tensor:
    """uint8 images with per-image colour and texture variation."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=gen) * 160
    noise = torch.rand(n, 3, size, size, generator=gen) * 90
    return (base + noise).to(torch.uint8)


def fake_gather(partner):
    """A stand-in for all_gather: returns [own state, partner's state] (two simulated ranks)."""
    def gather(tensor: torch.Tensor, group=None) -> list[torch.Tensor]:
        for name in partner._reductions:
            if getattr(fake_gather.owner, name) is tensor:
                return [tensor, getattr(partner, name)]
        raise AssertionError("unknown state tensor")
    return gather


# --- FID -------------------------------------------------------------------------------------------

def test_metric_uint8_round_trips_saved_images():
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(2, 3, 16, 16)
    assert torch.equal(metric_uint8(u.float() / 127.5 - 1), u)
    assert torch.equal(metric_uint8(u), u)
    clipped = metric_uint8(torch.tensor([-2.0, 2.0]).reshape(1, 1, 1, 2).expand(1, 3, 1, 2))
    assert clipped[0, 0, 0].tolist() == [0, 255]
    with pytest.raises(TypeError):
        metric_uint8(torch.zeros(1, 3, 4, 4, dtype=torch.int32))


def test_fid_self_is_zero_and_shift_is_larger():
    reals = random_images(256, seed=0)
    fid = FID(TinyExtractor(), num_features=NUM_FEATURES, reset_real_features=False)
    for chunk in reals.split(64):
        fid.update(chunk, real=True)
    for chunk in reals.split(100):  # different batching, floats in [-1, 1]
        fid.update(chunk.float() / 127.5 - 1, real=False)
    self_fid = float(fid.compute())
    assert abs(self_fid) < 1e-4

    fid.reset()  # keeps the real statistics
    shifted = (reals.int() + 50).clamp(max=255).to(torch.uint8)
    fid.update(shifted, real=False)
    shifted_fid = float(fid.compute())
    assert shifted_fid > 1e-2 and shifted_fid > 1000 * max(abs(self_fid), 1e-8)

    fid.reset()
    fid.update(random_images(256, seed=1), real=False)  # same distribution, other draw: small
    assert 0 < float(fid.compute()) < shifted_fid


def test_fid_custom_extractor_gets_resized_uint8():
    net = TinyExtractor()
    fid = FID(net, input_size=16)  # num_features found by a probe forward
    assert fid.inception.num_features == NUM_FEATURES
    net.seen_sizes.clear()
    fid.update(random_images(4, seed=0, size=40), real=True)
    assert net.seen_sizes == [(16, 16)]


def test_fid_states_sum_across_ranks():
    reals, fakes = random_images(120, seed=0), random_images(120, seed=5)
    full = FID(TinyExtractor(), num_features=NUM_FEATURES)
    full.update(reals, real=True)
    full.update(fakes, real=False)

    rank1 = FID(TinyExtractor(), num_features=NUM_FEATURES)
    rank1.update(reals[60:], real=True)
    rank1.update(fakes[70:], real=False)
    rank0 = FID(TinyExtractor(), num_features=NUM_FEATURES, dist_sync_fn=fake_gather(rank1),
                distributed_available_fn=lambda: True)
    fake_gather.owner = rank0
    rank0.update(reals[:60], real=True)
    rank0.update(fakes[:70], real=False)
    synced = float(rank0.compute())
    assert synced == pytest.approx(float(full.compute()), rel=1e-6)
    assert rank0.num_real == 60  # unsynced again after compute


def test_fid_keeps_extractor_weights_out_of_checkpoints():
    fid = FID(TinyExtractor(), num_features=NUM_FEATURES)
    assert not any(k.startswith("inception.") for k in fid.state_dict())
    holder = nn.Module()
    holder.fid = fid
    holder.head = nn.Linear(2, 2)
    state = holder.state_dict()
    assert set(state) == {"head.weight", "head.bias"}
    holder.load_state_dict(state, strict=True)  # no missing-key error for the extractor
    kept = FID(TinyExtractor(), num_features=NUM_FEATURES, keep_weights_in_state_dict=True)
    assert "inception.net.conv.weight" in kept.state_dict()


def test_missing_inception_weights_give_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match=INCEPTION_WEIGHTS_FILE) as info:
        FID(weights_path=tmp_path / "nowhere" / INCEPTION_WEIGHTS_FILE)
    assert "download" in str(info.value) and "docs/evaluation.md" in str(info.value)
    monkeypatch.setenv("STYLEGAN_T_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=str(tmp_path)):
        load_inception()  # default location: $STYLEGAN_T_WEIGHTS/pt_inception-...pth


def test_inception_file_that_is_not_a_state_dict_is_refused(tmp_path):
    pytest.importorskip("torch_fidelity")
    bad = tmp_path / INCEPTION_WEIGHTS_FILE
    torch.save({"something": torch.zeros(1)}, bad)
    with pytest.raises(MissingWeightsError, match="does not hold the FID Inception"):
        load_inception(bad)


def test_standard_inception_loads_from_local_file(tmp_path, monkeypatch):
    """A random-weight file in the torch-fidelity layout goes through the real loading path."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    with monkeypatch.context() as patch:  # build the architecture once without any weights
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        random_net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path / INCEPTION_WEIGHTS_FILE
    torch.save(random_net.state_dict(), path)
    del random_net

    fid = FID(weights_path=path, num_features=64)  # 64-d pool features: the cheapest layer
    images = random_images(3, seed=0, size=32)
    fid.update(images, real=True)
    fid.update(images.float() / 127.5 - 1, real=False)
    assert fid.num_real == 3 and fid.real_features_sum.shape == (64,)
    assert torch.allclose(fid.real_features_sum, fid.fake_features_sum)


# --- CLIP score ------------------------------------------------------------------------------------

def manual_mean_cosine(spec: str, images: torch.Tensor, captions: list[str]) -> float:
    import open_clip

    model = open_clip.create_model(spec).eval()
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).reshape(1, 3, 1, 1)
    x = F.interpolate(images.float() / 255, size=(32, 32), mode="bicubic", align_corners=False)
    with torch.no_grad():
        img = F.normalize(model.encode_image((x - mean) / std), dim=-1)
        txt = F.normalize(model.encode_text(open_clip.tokenize(captions)), dim=-1)
    return float((img * txt).sum(-1).mean())


CAPTIONS = ["a red car", "a photo of a dog", "two birds on a wire", "a bowl of soup", "a city at night"]


def test_clip_score_equals_manual_cosine(tiny_clip):
    images = random_images(5, seed=3, size=48)
    score = OpenCLIPScore(tiny_clip)
    score.update(images[:2], CAPTIONS[:2])
    score.update(images[2:].float() / 127.5 - 1, CAPTIONS[2:])  # [-1, 1] floats, quantized first
    expected = manual_mean_cosine(tiny_clip, images, CAPTIONS)
    assert float(score.compute()) == pytest.approx(expected, abs=1e-5)
    assert int(score.count) == 5

    x100 = OpenCLIPScore(score.model, tokenizer=score.tokenizer, scale=100.0)  # a model instance
    x100.update(images, CAPTIONS)
    assert float(x100.compute()) == pytest.approx(100 * expected, abs=1e-3)
    assert not any(k.startswith("model.") for k in score.state_dict())
    score.train()
    assert not score.model.training


def test_clip_score_states_sum_across_ranks(tiny_clip):
    images = random_images(5, seed=4, size=32)
    rank1 = OpenCLIPScore(tiny_clip)
    rank1.update(images[3:], CAPTIONS[3:])
    rank0 = OpenCLIPScore(rank1.model, dist_sync_fn=fake_gather(rank1), distributed_available_fn=lambda: True)
    fake_gather.owner = rank0
    rank0.update(images[:3], CAPTIONS[:3])
    assert float(rank0.compute()) == pytest.approx(float(rank1.cosines(images, CAPTIONS).mean()), abs=1e-6)
    assert int(rank0.count) == 3  # unsynced again after compute


# --- trade-off ---------------------------------------------------------------------------------------

def test_tradeoff_writes_json_and_png(tiny_clip, tmp_path):
    reals = random_images(96, seed=0, size=32)
    calls = []

    def generate(captions, seeds, psi):
        calls.append((list(seeds), psi))
        out = []
        for s in seeds:  # deterministic per seed; lower psi pulls images toward grey
            g = torch.Generator().manual_seed(s)
            out.append((torch.rand(3, 32, 32, generator=g) * 2 - 1) * psi)
        return torch.stack(out)

    real_batches = ({"image": b.float() / 127.5 - 1, "caption": ["x"] * len(b)} for b in reals.split(40))
    result = evaluate_tradeoff(
        generate,
        captions=CAPTIONS,
        num_samples=24,
        truncations=[1.0, 0.7, 0.4],
        fid=FID(TinyExtractor(), num_features=NUM_FEATURES, input_size=16),
        clip_score=OpenCLIPScore(tiny_clip),
        real_images=real_batches,
        num_real=90,
        batch_size=10,
    )
    assert result["num_real"] == 90
    assert [r["truncation_psi"] for r in result["rows"]] == [1.0, 0.7, 0.4]
    assert [c[0] for c in calls[:3]] == [list(range(0, 10)), list(range(10, 20)), list(range(20, 24))]
    assert calls[3][0] == list(range(0, 10)) and calls[3][1] == 0.7  # same seeds at every psi
    fids = [r["fid"] for r in result["rows"]]
    assert fids[2] > fids[0]  # greyer images: further from the reals
    for row in result["rows"]:
        assert row["clip_score_x100"] == pytest.approx(100 * row["clip_score"])

    json_path = save_results_json(result, tmp_path / "eval" / "metrics.json", checkpoint="ckpt.pt")
    loaded = json.loads(json_path.read_text())
    assert loaded["checkpoint"] == "ckpt.pt" and "raw cosine" in loaded["clip_score_convention"]
    png = plot_tradeoff(loaded, tmp_path / "eval" / "tradeoff.png")
    with Image.open(png) as im:
        assert im.size == (640, 480)
        assert len(set(im.convert("RGB").getdata())) > 3  # axes, grid, points, text drawn


def test_real_statistics_round_trip_and_rank_share(tmp_path):
    reals = random_images(64, seed=0)
    source = FID(TinyExtractor(), num_features=NUM_FEATURES)
    source.update(reals, real=True)
    stats = source.save_real_statistics(tmp_path / "coco64_stats.pt")

    seen = []

    def generate(captions, seeds, psi):
        seen.extend(seeds)
        return random_images(len(seeds), seed=seeds[0] + 100)

    fid = FID(TinyExtractor(), num_features=NUM_FEATURES, reset_real_features=False)
    fid.load_real_statistics(stats)
    result = evaluate_tradeoff(generate, captions=["a"], num_samples=9, fid=fid, batch_size=2,
                               seed=10, rank=1, world_size=2)  # no real_images: the loaded statistics
    assert seen == [11, 13, 15, 17]  # this rank's share of samples 0..8
    assert result["num_real"] == 64 and "clip_score" not in result["rows"][0]
    source.update(torch.cat([random_images(2, seed=111), random_images(2, seed=115)]), real=False)
    assert result["rows"][0]["fid"] == pytest.approx(float(source.compute()), rel=1e-6)
    with pytest.raises(ValueError, match="features"):
        FID(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 5)), num_features=5).load_real_statistics(stats)


def test_iter_image_folder_crops_resizes_and_skips(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "a.png")
    Image.new("L", (30, 30), 128).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "c.png").write_bytes(b"not an image")
    skipped = []
    batches = list(iter_image_folder(tmp_path, resolution=8, batch_size=1, on_skip=lambda p, e: skipped.append(p.name)))
    assert [tuple(b.shape) for b in batches] == [(1, 3, 8, 8), (1, 3, 8, 8)]
    assert batches[0].dtype == torch.uint8 and batches[0][0, :, 4, 4].tolist() == [255, 0, 0]
    assert skipped == ["c.png"]


class _Recorder:
    """Stands in for FID: records the real batches it is given."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def update(self, images: torch.Tensor, real: bool) -> None:
        assert real
        self.batches.append(images)


def test_read_reals_feeds_fid_and_collects_captions_in_one_pass(tmp_path):
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (12, 10), color).save(tmp_path / f"{i}.png")
        if i != 1:
            (tmp_path / f"{i}.txt").write_text(f"caption {i}\n")
    (tmp_path / "x.png").write_bytes(b"broken")
    fid = _Recorder()
    data = read_reals(str(tmp_path), resolution=8, fid=fid, want_captions=True, batch_size=2)
    assert [tuple(b.shape) for b in fid.batches] == [(2, 3, 8, 8), (1, 3, 8, 8)]
    assert torch.equal(torch.cat(fid.batches), torch.cat(list(iter_image_folder(tmp_path, resolution=8))))
    assert data.captions == ["caption 0", "caption 2"]
    assert data.counts.as_dict() == {"images": 3, "captions": 2, "unreadable": 1, "no_caption": 1, "shard_errors": 0}
    limited = read_reals(str(tmp_path), resolution=8, fid=_Recorder(), limit=2)
    assert limited.counts.images == 2 and limited.captions == []  # captions only when asked for
    only_captions = read_reals(str(tmp_path), resolution=8, want_captions=True, limit=1)
    assert only_captions.captions == ["caption 0"] and only_captions.counts.images == 0
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "y.png").write_bytes(b"broken")
    with pytest.raises(UserError, match="no readable real images"):
        read_reals(str(tmp_path / "empty"), resolution=8, fid=_Recorder())


def test_read_captions_kinds_and_errors(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\n two \n")
    (tmp_path / "b.json").write_text(json.dumps(["a  b", "", "c"]))
    (tmp_path / "c.json").write_text(json.dumps({"k": 1}))
    (tmp_path / "d.txt").write_text("\n \n")
    assert read_captions(tmp_path / "a.txt") == (["one", "two"], "text file, one caption per line")
    assert read_captions(tmp_path / "b.json") == (["a b", "c"], "JSON list")
    for bad, match in (("c.json", "expected a COCO"), ("d.txt", "holds no caption"), ("e.txt", "not found")):
        with pytest.raises(UserError, match=match):
            read_captions(tmp_path / bad)


def test_plot_with_one_metric_uses_psi_axis(tmp_path):
    result = {"rows": [{"truncation_psi": p, "fid": f} for p, f in [(1.0, 12.0), (0.8, 10.5), (0.6, 14.2)]]}
    path = plot_tradeoff(result, tmp_path / "fid.png", size=(320, 240))
    with Image.open(path) as im:
        assert im.size == (320, 240)
    assert _nice_ticks(10.5, 14.2) == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    assert _nice_ticks(0.3, 0.3)[0] <= 0.3 <= _nice_ticks(0.3, 0.3)[-1]
