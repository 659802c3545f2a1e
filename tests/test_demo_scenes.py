"""Demo dataset (issue 6): deterministic scenes, captions that say what is drawn, shards written once."""
from __future__ import annotations

import io
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from stylegan_t.demo import ATTRIBUTES, ensure_demo_shards, parse_caption, random_scene, render, sample
from stylegan_t.demo.scenes import CENTERED_SIZE_RANGE, SIZE_RANGE, coverage, position_offset
from stylegan_t.demo.shards import MANIFEST


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_same_index_and_seed_give_the_same_bytes():
    a, b = sample(7, seed=3), sample(7, seed=3)
    assert png_bytes(a.image) == png_bytes(b.image) and a.caption == b.caption and a.attributes == b.attributes
    assert a.image.size == (32, 32) and a.image.mode == "RGB" and a.attributes == a.scene.attributes
    assert png_bytes(sample(8, seed=3).image) != png_bytes(a.image)
    assert png_bytes(sample(7, seed=4).image) != png_bytes(a.image)
    assert sample(7, seed=3, resolution=64).image.size == (64, 64)


def test_captions_name_what_is_drawn():
    mentions, seen = 0, {name: Counter() for name in ATTRIBUTES}
    n = 400
    for i in range(n):
        _, caption, scene = sample(i, seed=1)
        asked, drawn = parse_caption(caption), scene.attributes
        assert asked["color"] == drawn["color"] and asked["shape"] == drawn["shape"], caption
        assert asked.items() <= drawn.items(), caption
        mentions += "position" in asked
        for name, value in drawn.items():
            seen[name][value] += 1
    assert 0.4 < mentions / n < 0.6  # position_prob = 0.5
    for name, values in ATTRIBUTES.items():  # every value occurs, roughly uniformly
        assert set(seen[name]) == set(values)
        assert min(seen[name].values()) > 0.5 * n / len(values)
    never = [parse_caption(sample(i, position_prob=0.0).caption) for i in range(50)]
    always = [parse_caption(sample(i, position_prob=1.0).caption) for i in range(50)]
    assert all("position" not in a for a in never) and all("position" in a for a in always)


def test_centered_layout_has_large_central_shapes_and_no_place_in_captions():
    for i in range(100):
        _, caption, scene = sample(i, layout="centered", position_prob=1.0)
        assert scene.position == "center" and max(abs(c - 0.5) for c in scene.center) <= 0.04
        assert CENTERED_SIZE_RANGE[0] <= scene.size <= CENTERED_SIZE_RANGE[1]
        assert parse_caption(caption) == {"color": scene.color, "shape": scene.shape}
    with pytest.raises(ValueError, match="no position"):
        random_scene(random.Random(0), position="left", layout="centered")
    with pytest.raises(ValueError, match="unknown layout"):
        sample(0, layout="grid")


def test_parse_caption():
    assert parse_caption("There is a Red square at the top of the image.") == {"color": "red", "shape": "square", "position": "top"}
    assert parse_caption("a blue triangle in the middle") == {"color": "blue", "shape": "triangle", "position": "center"}
    assert parse_caption("a red and blue circle") == {"shape": "circle"}  # two colours: ambiguous, left out
    assert parse_caption("a cat") == {}


def test_random_scene_keeps_requested_attributes():
    rng = random.Random(0)
    for color in ATTRIBUTES["color"]:
        for shape in ATTRIBUTES["shape"]:
            for position in ATTRIBUTES["position"]:
                scene = random_scene(rng, color=color, shape=shape, position=position)
                assert scene.attributes == {"color": color, "shape": shape, "position": position}
    with pytest.raises(ValueError, match="unknown color"):
        random_scene(rng, color="purple")


@pytest.mark.parametrize("shape", ATTRIBUTES["shape"])
def test_shapes_stay_inside_the_image_with_their_area(shape):
    size = SIZE_RANGE[1]
    off, j = position_offset(size), 0.03  # the farthest out a centroid is placed, and the sideways jitter
    unit_area = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5}[shape]
    for center in [(0.5 - off, 0.5 - j), (0.5 + off, 0.5 + j), (0.5 - j, 0.5 - off), (0.5 + j, 0.5 + off), (0.5 + j, 0.5 - j)]:
        cov = coverage(shape, center, size, 64)
        assert cov[0].sum() == cov[-1].sum() == cov[:, 0].sum() == cov[:, -1].sum() == 0  # border left free
        assert cov.sum() / 64**2 == pytest.approx(unit_area * size**2, rel=0.03)
        ys, xs = np.mgrid[0:64, 0:64]
        centroid = ((cov * (xs + 0.5)).sum() / cov.sum() / 64, (cov * (ys + 0.5)).sum() / cov.sum() / 64)
        assert centroid == pytest.approx(center, abs=0.01)  # ``center`` is the area centroid


def test_render_background_is_unsaturated_and_shape_saturated():
    scene = random_scene(random.Random(5), shape="square", position="center")
    pixels = np.asarray(render(scene, 32), dtype=np.int32)
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert saturation[0].max() < 40 and saturation[16, 16] > 150


def test_shards_written_once_and_readable(tmp_path: Path):
    folder = tmp_path / "data"
    shards = ensure_demo_shards(folder, num_samples=300, resolution=32, samples_per_shard=128, seed=0)
    assert shards == [str(folder / f"{s:05d}.tar") for s in range(3)]
    counts = [json.loads((folder / f"{s:05d}_stats.json").read_text())["count"] for s in range(3)]
    assert counts == [128, 128, 44]
    mtimes = [Path(s).stat().st_mtime_ns for s in shards]
    assert ensure_demo_shards(folder, num_samples=300, resolution=32, samples_per_shard=128, seed=0) == shards
    assert [Path(s).stat().st_mtime_ns for s in shards] == mtimes  # reused, not rewritten

    dataset = wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode("pil")
    records = list(dataset)
    assert len(records) == 300
    for i in (0, 127, 128, 299):
        record, expected = records[i], sample(i, seed=0)
        assert record["__key__"] == f"{i:09d}"
        assert record["txt"] == expected.caption and record["json"]["attributes"] == expected.attributes
        assert record["png"].size == (32, 32)
        assert np.array_equal(np.asarray(record["png"].convert("RGB")), np.asarray(expected.image))


def test_shards_regenerated_when_parameters_change_or_files_break(tmp_path: Path):
    shards = ensure_demo_shards(tmp_path, num_samples=100, resolution=16, samples_per_shard=40, seed=0)
    assert len(shards) == 3
    smaller = ensure_demo_shards(tmp_path, num_samples=60, resolution=16, samples_per_shard=40, seed=0)
    assert len(smaller) == 2 and not (tmp_path / "00002.tar").exists() and not (tmp_path / "00002_stats.json").exists()
    assert json.loads((tmp_path / MANIFEST).read_text())["params"]["num_samples"] == 60

    other = ensure_demo_shards(tmp_path, num_samples=60, resolution=16, samples_per_shard=40, seed=1)
    first = next(iter(wds.WebDataset(other[0], shardshuffle=False, empty_check=False)))
    assert first["txt"].decode() == sample(0, seed=1).caption
    centered = ensure_demo_shards(tmp_path, num_samples=60, resolution=16, samples_per_shard=40, seed=1, layout="centered")
    first = next(iter(wds.WebDataset(centered[0], shardshuffle=False, empty_check=False)))
    assert first["txt"].decode() == sample(0, seed=1, layout="centered").caption

    with open(other[1], "r+b") as f:  # a truncated shard is noticed and rewritten
        f.truncate(1024)
    ensure_demo_shards(tmp_path, num_samples=60, resolution=16, samples_per_shard=40, seed=1)
    assert len(list(wds.WebDataset(other[1], shardshuffle=False, empty_check=False))) == 20
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError):
        ensure_demo_shards(tmp_path, num_samples=0, resolution=16, samples_per_shard=40, seed=1)


def test_drawing_helpers_of_the_procedural_worlds():
    from stylegan_t.demo.drawing import check_attributes, composite, rotated, supersampled

    def disc(x, y):
        return x * x + y * y <= 0.3**2

    cov = supersampled(disc, (0.5, 0.4), 8, 3)
    naive = np.zeros((8, 8), dtype=np.float32)  # one pixel at a time, its 3 x 3 sample points
    for row in range(8):
        for col in range(8):
            ys, xs = (row * 3 + np.arange(3) + 0.5) / 24 - 0.4, (col * 3 + np.arange(3) + 0.5) / 24 - 0.5
            naive[row, col] = disc(xs[None, :], ys[:, None]).mean()
    assert cov.dtype == np.float32 and np.allclose(cov, naive)
    u, v = rotated(np.array([1.0]), np.array([0.0]), math.pi / 2)
    assert np.allclose([u[0], v[0]], [0.0, -1.0])
    image = composite(np.full((1, 2, 3), 100, np.float32), np.array([[[0.0], [0.5]]], np.float32), (200, 0, 50))
    assert [image.getpixel((i, 0)) for i in range(2)] == [(100, 100, 100), (150, 50, 75)]
    check_attributes(ATTRIBUTES, color="red", shape=None)
    with pytest.raises(ValueError, match="unknown shape 'hexagon'"):
        check_attributes(ATTRIBUTES, shape="hexagon")
