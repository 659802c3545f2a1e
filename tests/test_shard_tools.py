"""make-shards / check-shards: inputs, shard layout and stats, round trip through the DataModule, the CLI."""
import csv
import json
import tarfile

import pytest
import torch
from PIL import Image
from shard_helpers import write_test_shards

from stylegan_t.cli.main import main
from stylegan_t.data import DataConfig, check_shards, decode_image, make_shards
from stylegan_t.training.datamodule import WebDataSetDataModule

R = 16
COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (128, 128, 128)]
FORMATS = ["PNG", "JPEG", "WEBP", "BMP", "PNG", "JPEG", "PNG"]


def image_folder(root):
    """7 captioned images (png/jpg/webp/bmp, various sizes), one without caption, one corrupt."""
    root.mkdir(parents=True, exist_ok=True)
    captions = {}
    for i, (color, fmt) in enumerate(zip(COLORS, FORMATS)):
        name = f"img{i}.{fmt.lower().replace('jpeg', 'jpg')}"
        Image.new("RGB", (24 + 3 * i, 20 + i), color).save(root / name, fmt, **({"quality": 95} if fmt != "PNG" else {}))
        captions[name] = f"picture {i} in {fmt}"
        (root / name).with_suffix(".txt").write_text(captions[name] + "\n")
    Image.new("RGB", (20, 20)).save(root / "nocap.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "broken.txt").write_text("a broken file")
    return captions


def load_all(folder, batch_size, **cfg):
    dm = WebDataSetDataModule(DataConfig(urls=str(folder), num_workers=0, sample_shuffle=1, batches_per_epoch=1, **cfg),
                              resolution=R, batch_size=batch_size)
    (batch,) = list(dm.train_dataloader())
    return batch, dm.stats


def test_make_shards_from_folder_round_trips(tmp_path):
    captions = image_folder(tmp_path / "src")
    result = make_shards(tmp_path / "src", tmp_path / "out", shard_size=3)
    assert (result.written, result.unreadable, result.no_caption) == (7, 1, 1)
    assert [p.rsplit("/", 1)[1] for p in result.shards] == ["00000.tar", "00001.tar", "00002.tar"]
    stats = [json.loads((tmp_path / "out" / f"{i:05d}_stats.json").read_text()) for i in range(3)]
    assert [s["successes"] for s in stats] == [3, 3, 1]
    assert sum(s["count"] for s in stats) == 9 and sum(s["failed_to_resize"] + s["failed_no_caption"] for s in stats) == 2
    with tarfile.open(result.shards[0]) as tar:
        names = tar.getnames()
    assert names[:3] == ["000000000.png", "000000000.txt", "000000000.json"]  # members of a key stay together
    batch, stats = load_all(tmp_path / "out", 7)
    assert stats.skipped == stats.dropped == 0
    assert sorted(batch["caption"]) == sorted(captions.values())  # every sample and caption, exactly once
    for image, caption in zip(batch["image"], batch["caption"]):
        i = int(caption.split()[1])
        expected = torch.tensor(COLORS[i], dtype=torch.float32) / 127.5 - 1
        assert (image.mean(dim=(1, 2)) - expected).abs().max() < 0.05
    meta = json.loads(tarfile.open(result.shards[0]).extractfile("000000000.json").read())
    assert meta["caption"] == "picture 0 in PNG" and meta["original_width"] == 24 and meta["source_path"].endswith("img0.png")


def test_make_shards_at_resolution_matches_training_decode(tmp_path):
    image_folder(tmp_path / "src")
    result = make_shards(tmp_path / "src", tmp_path / "out", shard_size=10, resolution=R)
    with tarfile.open(result.shards[0]) as tar:
        sizes = {m.name: Image.open(tar.extractfile(m)).size for m in tar.getmembers() if m.name.endswith((".png", ".jpg"))}
    assert len(sizes) == 7 and set(sizes.values()) == {(R, R)}
    batch, _ = load_all(tmp_path / "out", 7)
    src = (tmp_path / "src" / "img0.png").read_bytes()  # PNG stays lossless: exactly what training would decode
    i = batch["caption"].index("picture 0 in PNG")
    assert torch.equal(batch["image"][i], decode_image(src, R))


def test_make_shards_from_tables(tmp_path):
    image_folder(tmp_path / "imgs")
    rows = [("imgs/img0.png", "zero", "a"), ("imgs/img1.jpg", "one", "b"), ("imgs/missing.png", "gone", "c"),
            ("imgs/img2.webp", "", "d")]
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", "text", "source"])
        writer.writerows(rows)
    result = make_shards(tmp_path / "pairs.csv", tmp_path / "csv_out", shard_size=5)
    assert (result.written, result.unreadable, result.no_caption) == (2, 1, 1)
    meta = json.loads(tarfile.open(result.shards[0]).extractfile("000000001.json").read())
    assert meta["caption"] == "one" and meta["source_path"].endswith("img1.jpg") and meta["source"] == "b"  # extra column kept
    lines = [json.dumps({"img": str(tmp_path / p), "prompt": c}) for p, c, _ in rows[:2]]
    (tmp_path / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    result = make_shards(tmp_path / "pairs.jsonl", tmp_path / "jsonl_out", shard_size=5, path_column="img")
    batch, _ = load_all(tmp_path / "jsonl_out", 2)
    assert sorted(batch["caption"]) == ["one", "zero"]
    with pytest.raises(ValueError, match="no column 'nope'"):
        make_shards(tmp_path / "pairs.jsonl", tmp_path / "x", shard_size=5, path_column="img", caption_column="nope")


def test_make_shards_from_coco(tmp_path):
    image_folder(tmp_path / "val2014")
    coco = {
        "images": [{"id": 2, "file_name": "img1.jpg"}, {"id": 1, "file_name": "img0.png"}, {"id": 3, "file_name": "img2.webp"}],
        "annotations": [{"id": 11, "image_id": 1, "caption": "second of zero"}, {"id": 10, "image_id": 1, "caption": "first of zero"},
                        {"id": 12, "image_id": 2, "caption": "only one"}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_val2014.json").write_text(json.dumps(coco))
    result = make_shards(tmp_path / "annotations" / "captions_val2014.json", tmp_path / "out", shard_size=10)
    assert (result.written, result.no_caption) == (2, 1)  # the image folder was found as ../val2014
    batch, _ = load_all(tmp_path / "out", 2, caption_key="txt")
    assert sorted(batch["caption"]) == ["first of zero", "only one"]
    batch, _ = load_all(tmp_path / "out", 1, caption_key="json:captions.1")  # all captions are in the .json
    assert batch["caption"] == ["second of zero"]


def test_make_shards_refuses_to_overwrite(tmp_path):
    image_folder(tmp_path / "src")
    make_shards(tmp_path / "src", tmp_path / "out", shard_size=4)
    with pytest.raises(FileExistsError):
        make_shards(tmp_path / "src", tmp_path / "out", shard_size=4)
    assert len(make_shards(tmp_path / "src", tmp_path / "out", shard_size=7, overwrite=True).shards) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000.tar", "00000_stats.json"]


def test_check_shards_reports_per_shard(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=2, samples_per_shard=4)
    data = open(shards[1], "rb").read()
    (tmp_path / "00002.tar").write_bytes(data[: len(data) // 2])
    reports = {r.url.rsplit("/", 1)[1]: r for r in check_shards(str(tmp_path))}
    r0 = reports["00000.tar"]
    assert (r0.samples, r0.ok, r0.unreadable, r0.no_caption, r0.error) == (10, 7, 2, 1, None)
    assert any("bad_one_pixel" in p for p in r0.problems) and any("bad_no_caption" in p for p in r0.problems)
    assert (reports["00001.tar"].ok, reports["00001.tar"].error) == (4, None)
    assert reports["00002.tar"].error.startswith("ReadError") and reports["00002.tar"].ok < 4
    assert reports["99999.tar"].samples == 0 and reports["99999.tar"].error is None  # empty tar: fine
    # Cut exactly at a member header, a tar reads as a valid shorter one; its _stats.json gives it away.
    with tarfile.open(shards[1]) as tar:
        cut = tar.getmembers()[6].offset
    (tmp_path / "00003.tar").write_bytes(data[:cut])
    (tmp_path / "00003_stats.json").write_text((tmp_path / "00001_stats.json").read_text())
    (r3,) = check_shards(str(tmp_path / "00003.tar"))
    assert (r3.samples, r3.ok, r3.expected) == (2, 2, 4) and "_stats.json says 4" in r3.error
    via_json = check_shards(shards.pattern, caption_key="json:meta.caption", workers=2)
    assert [(r.ok, r.unreadable, r.no_caption) for r in via_json] == [(7, 2, 1), (4, 0, 0)]


def test_cli_make_and_check_shards(tmp_path, capsys):
    image_folder(tmp_path / "src")
    assert main(["make-shards", str(tmp_path / "src"), str(tmp_path / "out"), "--shard-size", "3", "--resolution", "16"]) == 0
    out = capsys.readouterr().out
    assert "wrote 7 samples in 3 shard(s)" in out and "1 unreadable" in out and "1 without caption" in out
    assert main(["check-shards", str(tmp_path / "out" / "{00000..00002}.tar"), "--strict"]) == 0
    assert "total: 3 shard(s), 7 samples: 7 ok" in capsys.readouterr().out
    write_test_shards(tmp_path / "bad", num_shards=1, samples_per_shard=2)
    report = tmp_path / "report.json"
    assert main(["check-shards", str(tmp_path / "bad"), "--strict", "--json", str(report)]) == 1
    assert "2 unreadable, 1 without caption" in capsys.readouterr().out
    assert json.loads(report.read_text())[0]["unreadable"] == 2
    capsys.readouterr()
    assert main(["check-shards", str(tmp_path / "empty_dir_that_is_missing" / "*.tar")]) == 2
    assert "no shards found" in capsys.readouterr().err
