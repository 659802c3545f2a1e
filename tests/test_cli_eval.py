"""``stylegan-t eval`` (issue 5 item 4) run through ``main([...])`` on a tiny random generator export, the
standard Inception architecture with random weights saved to disk, a tiny random open_clip model, and reals
from test shards or a folder of PNG + txt files."""
from __future__ import annotations

import contextlib
import io
import json
import math
import random
from collections import defaultdict

import pytest
import torch
from PIL import Image
from shard_helpers import write_test_shards

from stylegan_t.cli.eval import parse_metrics, parse_truncations
from stylegan_t.cli.main import main
from stylegan_t.export import export_generator
from stylegan_t.metrics import (
    INCEPTION_WEIGHTS_FILE,
    RealCounts,
    coco_captions,
    iter_image_folder,
    iter_real_samples,
    resize_like_reals,
)
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig

COLORS = [(200, 40, 40), (40, 180, 60), (30, 60, 210), (220, 210, 30), (120, 120, 120)]


@pytest.fixture(scope="module")
def model(tiny_clip, tmp_path_factory):
    """A tiny random generator (16x16) exported to safetensors."""
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip)))
    with torch.no_grad():
        G.mapping.x_avg.normal_()
    return str(export_generator(G.eval(), tmp_path_factory.mktemp("eval_model") / "tiny.safetensors"))


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    """The standard FID Inception architecture with random weights, saved where the real file would be."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    with pytest.MonkeyPatch.context() as patch:  # build the architecture without fetching any weights
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        torch.manual_seed(0)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / INCEPTION_WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_test_shards(tmp_path_factory.mktemp("eval_shards"), num_shards=2, samples_per_shard=4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """6 PNGs of varied sizes, 4 with a sidecar caption, plus one unreadable file."""
    root = tmp_path_factory.mktemp("eval_folder")
    for i in range(6):
        Image.new("RGB", (20 + 3 * i, 18 + i), COLORS[i % len(COLORS)]).save(root / f"img{i}.png")
        if i < 4:
            (root / f"img{i}.txt").write_text(f"a {['red', 'green', 'blue', 'yellow'][i]} square\n")
    (root / "broken.png").write_bytes(b"not a png at all")
    return root


def read_json(path):
    return json.loads(path.read_text())


def assert_rows(result: dict, truncations: list[float], metrics: tuple[str, ...]) -> None:
    assert [r["truncation_psi"] for r in result["rows"]] == truncations
    for row in result["rows"]:
        for name in metrics:
            assert math.isfinite(row[name]), row
        assert ("fid" in row) == ("fid" in metrics) and ("clip_score" in row) == ("clip_score" in metrics)


# --- argument helpers --------------------------------------------------------------------------------------

def test_parse_metrics_and_truncations():
    assert parse_metrics("fid, clip-score,fid") == ["fid", "clip_score"]
    with pytest.raises(ValueError, match="unknown metric.*'is'.*choose from fid, clip_score"):
        parse_metrics("fid,is")
    assert parse_truncations("1.0,0.9, 0.8,0.9") == [1.0, 0.9, 0.8]
    for bad in ("", "a", "-0.5", "nan"):
        with pytest.raises(ValueError):
            parse_truncations(bad)


def test_generated_images_get_the_reals_resize():
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8)
    assert torch.equal(resize_like_reals(flat, 24), torch.full((2, 3, 24, 24), 77, dtype=torch.uint8))


def test_folder_reals_are_the_recipes_pixels(folder):
    """The command's reals are iter_image_folder's (COCO recipe step 3), so its saved statistics match."""
    counts = RealCounts()
    samples = list(iter_real_samples(str(folder), resolution=16, decode=True, caption_key="txt", counts=counts))
    assert torch.equal(torch.stack([image for image, _ in samples]), torch.cat(list(iter_image_folder(folder, resolution=16))))
    assert [caption for _, caption in samples] == ["a red square", "a green square", "a blue square", "a yellow square", None, None]
    assert counts.unreadable == 1


def test_coco_captions_follow_the_recipe():
    rng = random.Random(5)
    anns = [{"id": k, "image_id": rng.randrange(50), "caption": f"  caption {k}\n of it "} for k in range(200)]
    data = {"images": [], "annotations": anns}
    by_image = defaultdict(list)  # the recipe of docs/evaluation.md, verbatim
    for a in data["annotations"]:
        by_image[a["image_id"]].append(" ".join(a["caption"].split()))
    rng = random.Random(0)
    ids = sorted(by_image)
    rng.shuffle(ids)
    recipe = [rng.choice(by_image[i]) for i in ids[:30]]
    ours = coco_captions(data)
    assert len(ours) == len(by_image) and ours[:30] == recipe


# --- full runs ---------------------------------------------------------------------------------------------

def test_eval_shards_fid_and_clip_score(model, inception, tiny_clip, shards, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main([
        "eval", model, "--real", shards.pattern, "--num", "6", "--metrics", "fid,clip_score",
        "--truncation", "1.0,0.8,0.6", "--inception", inception, "--fid-dims", "64", "--clip-model", tiny_clip,
        "--batch-size", "4", "--device", "cpu", "--out", str(out), "--save-real-stats", str(tmp_path / "reals.pt"),
    ])
    assert rc == 0
    result = read_json(out / "results.json")
    assert_rows(result, [1.0, 0.8, 0.6], ("fid", "clip_score"))
    assert result["num_samples"] == 6 and result["resolution"] == 16
    # 8 valid + grayscale/16-bit/RGBA + the caption-less PNG are reals; truncated JPEG and 1x1 PNG are skipped.
    assert result["num_real"] == 12
    assert result["real_counts"] == {"images": 12, "captions": 11, "unreadable": 2, "no_caption": 1, "shard_errors": 0}
    assert result["num_captions"] == 11 and result["captions"] == "real data"
    assert result["fid_extractor"]["features"] == 64 and "clip_score_convention" in result
    for row in result["rows"]:
        assert row["clip_score_x100"] == pytest.approx(100 * row["clip_score"])
    with Image.open(out / "tradeoff.png") as png:
        assert png.size == (640, 480)
    assert (tmp_path / "reals.pt").is_file()
    printed = capsys.readouterr().out
    assert "12 real images, 2 unreadable skipped, 1 without caption" in printed
    assert printed.count("truncation_psi=") == 3 and "wrote " in printed


def test_eval_folder_resolution_and_saved_statistics(model, inception, folder, tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_text("a red car\n\na dog on a beach\na bowl of soup\n")
    common = ["--num", "4", "--metrics", "fid", "--truncation", "0.7", "--inception", inception, "--fid-dims", "64",
              "--captions", str(captions), "--resolution", "24", "--device", "cpu"]
    stats = tmp_path / "folder_reals.pt"
    assert main(["eval", model, "--real", str(folder), "--out", str(tmp_path / "a"), "--save-real-stats", str(stats), *common]) == 0
    a = read_json(tmp_path / "a" / "results.json")
    assert_rows(a, [0.7], ("fid",))
    assert a["num_real"] == 6 and a["real_counts"]["unreadable"] == 1  # every readable image, captioned or not
    assert a["resolution"] == 24 and a["generator_resolution"] == 16 and a["num_captions"] == 3
    assert a["captions"].endswith("(text file, one caption per line)")
    assert (tmp_path / "a" / "tradeoff.png").is_file()  # one metric: plotted against psi
    # The saved real statistics give the same FID without reading the images again.
    assert main(["eval", model, "--real", str(stats), "--out", str(tmp_path / "b"), *common]) == 0
    b = read_json(tmp_path / "b" / "results.json")
    assert b["num_real"] == 6 and b["rows"][0]["fid"] == pytest.approx(a["rows"][0]["fid"], rel=1e-9, abs=1e-9)


def test_eval_clip_score_from_coco_captions_without_reals(model, tiny_clip, tmp_path, monkeypatch, capsys):
    anns = [{"id": k, "image_id": k // 2, "caption": f"picture number {k}"} for k in range(10)]
    coco = tmp_path / "captions_val2014.json"
    coco.write_text(json.dumps({"images": [], "annotations": anns}))
    out = tmp_path / "clip"
    assert main(["eval", model, "--captions", str(coco), "--metrics", "clip_score", "--num", "3", "--truncation",
                 "1,0.5", "--clip-model", tiny_clip, "--device", "cpu", "--out", str(out)]) == 0
    result = read_json(out / "results.json")
    assert_rows(result, [1.0, 0.5], ("clip_score",))
    assert result["num_captions"] == 5 and "MS-COCO" in result["captions"] and "num_real" not in result
    assert (out / "tradeoff.png").is_file()
    # A curve that cannot be drawn still leaves the results, with exit status 1.
    def fail(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr("stylegan_t.metrics.plot_tradeoff", fail)
    assert main(["eval", model, "--captions", str(coco), "--metrics", "clip_score", "--num", "2", "--clip-model",
                 tiny_clip, "--device", "cpu", "--out", str(tmp_path / "noplot")]) == 1
    assert (tmp_path / "noplot" / "results.json").is_file() and "could not draw" in capsys.readouterr().err


# --- errors ------------------------------------------------------------------------------------------------

def eval_error(argv: list[str]) -> str:
    """``stylegan-t eval`` must fail with exit status 2 and one line on stderr (returned)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        rc = main(["eval", *argv])
    message = stderr.getvalue().replace("\r", "\n").strip().splitlines()[-1]  # after any progress bar
    assert rc == 2 and message.startswith("stylegan-t eval: ") and "Traceback" not in stderr.getvalue()
    return message


def test_eval_errors(model, inception, tiny_clip, shards, tmp_path):
    base = ["--num", "2", "--device", "cpu", "--out", str(tmp_path / "never")]
    # unknown metric: refused before anything is loaded
    assert "unknown metric(s) 'is'" in eval_error([model, "--real", shards.pattern, "--metrics", "fid,is", *base])
    # unreadable PATH: the pipeline's CheckpointLoadError
    assert "not found" in eval_error([str(tmp_path / "missing.ckpt"), "--real", shards.pattern, "--metrics", "fid", *base])
    (tmp_path / "notes.txt").write_text("hello")
    assert "notes.txt" in eval_error([str(tmp_path / "notes.txt"), "--real", shards.pattern, "--metrics", "fid", *base])
    # missing weights: MissingWeightsError, saying what to download
    msg = eval_error([model, "--real", shards.pattern, "--metrics", "fid", "--inception", str(tmp_path / INCEPTION_WEIGHTS_FILE), *base])
    assert INCEPTION_WEIGHTS_FILE in msg and "download" in msg
    msg = eval_error([model, "--real", shards.pattern, "--metrics", "clip_score", "--clip-model", "ViT-B-32",
                      "--clip-pretrained", str(tmp_path / "ViT-B-32.bin"), *base])
    assert "ViT-B-32" in msg and "not found" in msg
    # no real images: a folder with only unreadable images, and a missing path
    empty = tmp_path / "bad_reals"
    empty.mkdir()
    (empty / "x.png").write_bytes(b"garbage")
    msg = eval_error([model, "--real", str(empty), "--metrics", "fid", "--inception", inception, "--fid-dims", "64",
                      "--captions", str(tmp_path / "notes.txt"), *base])
    assert "no readable real images" in msg
    assert "not found" in eval_error([model, "--real", str(tmp_path / "nowhere"), "--metrics", "fid", *base])
    assert "--real is required" in eval_error([model, "--metrics", "fid", *base])
    assert not (tmp_path / "never").exists()  # nothing written on error
