"""``stylegan-t generate / interpolate / export / convert-official`` run through ``main([...])`` (issue 5)."""
import json
import sys

import pytest
import torch
from PIL import Image

import stylegan_t
from stylegan_t.cli.main import main
from stylegan_t.export import export_generator
from stylegan_t.latents import parse_seeds
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig
from stylegan_t.persistence import read_generator
from stylegan_t.pipeline import StyleGANTPipeline


def make_generator(tiny_clip: str, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip)))
    with torch.no_grad():
        G.mapping.x_avg.normal_()
    return G.eval()


@pytest.fixture(scope="module")
def files(tiny_clip, tmp_path_factory):
    """An export and a training checkpoint (contract written by hand) of tiny random generators."""
    root = tmp_path_factory.mktemp("cli")
    live, ema = make_generator(tiny_clip, 0), make_generator(tiny_clip, 1)
    export = export_generator(ema, root / "tiny.safetensors")
    state = {f"generator.{k}": v for k, v in live.state_dict().items()}
    state.update({f"generator_ema.module.{k}": v for k, v in ema.state_dict().items()})
    torch.save(
        {
            "state_dict": state,
            "hyper_parameters": {"recipe": {"model": {"generator": ema.config.to_dict()}}},
            "stylegan_t": {"kind": "stylegan_t.training.StyleGANT", "images_seen": 4096},
        },
        root / "last.ckpt",
    )
    return {"export": export, "ckpt": root / "last.ckpt", "ema": ema}


def test_parse_seeds():
    assert parse_seeds("0-7,10,12") == [0, 1, 2, 3, 4, 5, 6, 7, 10, 12]
    assert parse_seeds("5, 3-4,5") == [5, 3, 4]
    for bad in ("a", "3-1", "-2", ""):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_generate_writes_images_and_grid(files, tmp_path, capsys):
    out, grid = tmp_path / "out", tmp_path / "grid.png"
    rc = main([
        "generate", str(files["export"]), "--prompt", "a red cube", "--prompt", "a dog", "--seeds", "0-1,5",
        "--truncation", "0.8", "--outdir", str(out), "--grid", str(grid), "--batch-size", "4", "--device", "cpu",
        "--precision", "fp32",  # compared pixel for pixel with the pipeline's fp32 images below
    ])
    assert rc == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs][:3] == ["00-a_red_cube-seed0000.png", "00-a_red_cube-seed0001.png", "00-a_red_cube-seed0005.png"]
    assert len(pngs) == 6 and all(Image.open(p).size == (16, 16) for p in pngs)
    assert Image.open(grid).size == (3 * 16, 2 * 16)
    assert "wrote 6 images (2 prompts x 3 seeds" in capsys.readouterr().out
    # The files are the pipeline's images for the same (prompt, seed) and batch size.
    pipe = StyleGANTPipeline(files["ema"], device="cpu")
    expected = pipe(["a red cube", "a dog"], seeds=[0, 1, 5], truncation_psi=0.8, batch_size=4)
    assert list(Image.open(out / "01-a_dog-seed0005.png").getdata()) == list(expected[5].getdata())


def test_generate_from_checkpoint_with_styles(files, tmp_path):
    out = tmp_path / "styles"
    rc = main([
        "generate", str(files["ckpt"]), "--prompt", "a fox", "--style", "oil painting", "--style", "pixel art",
        "--seeds", "3", "--outdir", str(out), "--noise-mode", "none", "--device", "cpu",
    ])
    assert rc == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["00-a_fox_oil_painting-seed0003.png", "01-a_fox_pixel_art-seed0003.png"]


def test_interpolate_gif_frames_and_prompts(files, tmp_path):
    gif = tmp_path / "walk.gif"
    assert main(["interpolate", str(files["export"]), "--prompt", "a cat", "--seeds", "0,5,9", "--steps", "4",
                 "--out", str(gif), "--device", "cpu"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 7 and im.size == (16, 16)  # two segments of 4 sharing one frame
    frames = tmp_path / "frames"
    assert main(["interpolate", str(files["export"]), "--prompt", "a cat", "--prompt-b", "a dog", "--seeds", "2",
                 "--steps", "5", "--out", f"{frames}/", "--device", "cpu", "--precision", "fp32"]) == 0
    pngs = sorted(frames.glob("frame_*.png"))
    assert len(pngs) == 5 and all(p.stat().st_size > 100 for p in pngs)
    # Prompt interpolation ends on direct generation (up to uint8 rounding of float noise).
    pipe = StyleGANTPipeline(files["ema"], device="cpu")
    end = torch.tensor(list(pipe("a dog", seeds=2)[0].getdata()), dtype=torch.int16)
    last = torch.tensor(list(Image.open(pngs[-1]).getdata()), dtype=torch.int16)
    assert (end - last).abs().max() <= 1


def cli_error(argv: list[str], capsys) -> str:
    """Run a command that must fail on user input: exit 2 and one line on stderr (returned)."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_interpolate_errors(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails: no imageio backend
    monkeypatch.setattr("shutil.which", lambda name: None)  # and no ffmpeg binary
    err = cli_error(["interpolate", str(files["export"]), "--prompt", "a", "--out", str(tmp_path / "v.mp4")], capsys)
    assert ".gif" in err and "ffmpeg" in err
    err = cli_error(["interpolate", str(files["export"]), "--prompt", "a", "--prompt-b", "b", "--seeds", "0,1",
                     "--out", str(tmp_path / "x.gif")], capsys)
    assert "one seed" in err
    err = cli_error(["interpolate", str(files["export"]), "--prompt", "a", "--out", str(tmp_path / "x.avi")], capsys)
    assert "unsupported extension" in err
    assert not list(tmp_path.iterdir())  # nothing written on error


def test_export_command(files, tmp_path, capsys):
    out = tmp_path / "ema.safetensors"
    assert main(["export", str(files["ckpt"]), str(out)]) == 0
    assert "exported EMA generator" in capsys.readouterr().out and out.stat().st_size > 1_000_000
    G = read_generator(out)
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in files["ema"].state_dict().items())


def test_bad_input_exits_with_one_message(files, tmp_path, capsys):
    err = cli_error(["generate", str(tmp_path / "nope.ckpt"), "--prompt", "a", "--outdir", str(tmp_path / "o")], capsys)
    assert "checkpoint not found" in err
    torch.save({"w": torch.zeros(2)}, tmp_path / "plain.pt")
    err = cli_error(["export", str(tmp_path / "plain.pt"), str(tmp_path / "x.safetensors")], capsys)
    assert "plain state dict" in err and err.startswith("stylegan-t export: ")
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_official_command(official_dir, official_io, tmp_path, capsys):
    cfg = json.loads((official_dir / "config.json").read_text())
    out = tmp_path / "official.safetensors"
    rc = main([
        "convert-official", str(official_dir / "official_G_state_dict.pt"), str(out),
        "--img-resolution", str(cfg["img_resolution"]), "--channel-base", str(cfg["channel_base"]),
        "--channel-max", str(cfg["channel_max"]), "--num-res-blocks", str(cfg["num_res_blocks"]),
        "--text-encoder", f"local-dir:{official_dir / 'tiny_clip'}",
    ])
    assert rc == 0 and "converted" in capsys.readouterr().out
    G = stylegan_t.load(out, device="cpu").generator
    with torch.no_grad():
        ws = G.mapping(official_io["z"], official_io["prompts"], truncation_psi=official_io["truncation_psi"])
        img = G.synthesis(official_io["ws"], noise_mode="const")
    assert (ws - official_io["ws"]).abs().max() < 1e-5
    assert (img - official_io["img_const"]).abs().max() < 1e-4
    err = cli_error(  # wrong architecture: the mismatched keys are listed
        ["convert-official", str(official_dir / "official_G_state_dict.pt"), str(tmp_path / "bad.safetensors"),
         "--img-resolution", "64", "--channel-base", "2048", "--channel-max", "128", "--num-res-blocks", "1",
         "--text-encoder", f"local-dir:{official_dir / 'tiny_clip'}"], capsys)
    assert "missing keys" in err
