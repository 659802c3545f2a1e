"""Generation precision by measurement: ``auto`` keeps fp32 unless bf16 is clearly faster here (a fake timer
stands in for the device), measures once per pipeline, and the CLI says what it chose."""
import itertools

import pytest
import torch
from helpers import tiny_generator

from stylegan_t.cli.main import main
from stylegan_t.models import TextEncoderConfig
from stylegan_t.pipeline import StyleGANTPipeline
from stylegan_t.precision import BF16_MARGIN, PrecisionChoice, measure_precision


def fake_timer(seconds_per_call: dict[str, float], calls: list[str]):
    """A clock that advances by the cost of the precision the last call ran in."""
    now = itertools.count()
    state = {"t": 0.0}

    def run(precision):
        calls.append(precision)
        state["t"] += seconds_per_call[precision]

    def timer():
        next(now)
        return state["t"]

    return run, timer


@pytest.mark.parametrize("fp32,bf16,chosen", [
    (0.040, 0.063, "fp32"),                         # a CPU without bf16 matrix units: bf16 is slower
    (0.040, 0.040 * (1 - BF16_MARGIN / 2), "fp32"),  # barely faster is not enough: never the slower default
    (0.040, 0.015, "bf16"),                         # an AMX CPU or a GPU
])
def test_auto_keeps_fp32_unless_bf16_is_clearly_faster(fp32, bf16, chosen):
    calls = []
    run, timer = fake_timer({"fp32": fp32, "bf16": bf16}, calls)
    choice = measure_precision(run, repeats=3, timer=timer)
    assert choice.precision == chosen
    assert choice.fp32_s == pytest.approx(fp32) and choice.bf16_s == pytest.approx(bf16)
    assert calls == ["fp32"] * 4 + ["bf16"] * 4  # one warm-up and three timed calls each
    assert f"auto -> {chosen}" in choice.describe()


def test_pipeline_measures_once_and_generates_in_the_choice(monkeypatch, tiny_clip):
    import stylegan_t.pipeline as pipeline_module
    import stylegan_t.precision as precision_module

    monkeypatch.setattr(precision_module, "bf16_units", lambda device: "AMX")  # measured whatever this CPU has

    measured = []

    def fake_measure(run, **kwargs):
        measured.append(run("bf16").dtype)  # the measurement runs the real synthesis
        return PrecisionChoice("bf16", fp32_s=0.04, bf16_s=0.01)

    monkeypatch.setattr(pipeline_module, "measure_precision", fake_measure)
    assert StyleGANTPipeline(tiny_generator(TextEncoderConfig(model=tiny_clip)), device="cpu").precision == "fp32"
    pipe = StyleGANTPipeline(tiny_generator(TextEncoderConfig(model=tiny_clip)), device="cpu", precision="auto")
    assert pipe.precision_choice is None
    images = pipe(torch.nn.functional.normalize(torch.randn(2, pipe.generator.c_dim), dim=1), [0, 1], output_type="tensor")
    pipe(torch.nn.functional.normalize(torch.randn(1, pipe.generator.c_dim), dim=1), [3], output_type="tensor")
    assert measured == [torch.float32] and pipe.precision_choice.precision == "bf16"
    assert images.dtype == torch.float32 and images.shape == (4, 3, 16, 16) and torch.isfinite(images).all()
    fixed = StyleGANTPipeline(tiny_generator(TextEncoderConfig(model=tiny_clip)), device="cpu", precision="fp32")
    assert fixed.resolve_precision().precision == "fp32" and measured == [torch.float32]  # nothing measured
    with pytest.raises(ValueError, match="precision must be one of"):
        StyleGANTPipeline(tiny_generator(TextEncoderConfig(model=tiny_clip)), device="cpu", precision="fp16")


def test_generate_says_which_precision_it_chose(tmp_path, capsys, tiny_clip):
    from stylegan_t.export import export_generator

    path = export_generator(tiny_generator(TextEncoderConfig(model=tiny_clip)), tmp_path / "g.safetensors")
    out = tmp_path / "out"
    assert main(["generate", str(path), "--prompt", "x", "--seeds", "0", "--outdir", str(out), "--device", "cpu",
                 "--precision", "bf16"]) == 0
    assert "precision bf16" in capsys.readouterr().out
    assert main(["generate", str(path), "--prompt", "x", "--outdir", str(out), "--precision", "fp16"]) == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_a_cpu_without_bf16_instructions_is_not_measured(monkeypatch, tiny_clip):
    """On such a CPU (e.g. AMD EPYC with AVX2 only) bf16 is emulated: a lite 64 px pass takes minutes, only to lose."""
    import stylegan_t.pipeline as pipeline_module
    import stylegan_t.precision as precision_module

    monkeypatch.setattr(precision_module, "bf16_units", lambda device: None)
    monkeypatch.setattr(pipeline_module, "measure_precision", lambda *a, **k: pytest.fail("measured"))
    pipe = StyleGANTPipeline(tiny_generator(TextEncoderConfig(model=tiny_clip)), device="cpu", precision="auto")
    choice = pipe.resolve_precision()
    assert choice.precision == "fp32" and "no bf16 instructions" in choice.describe()


def test_bf16_units_of_devices():
    from stylegan_t.precision import bf16_units, unmeasured_choice

    assert bf16_units(torch.device("cuda")) == "CUDA" and unmeasured_choice(torch.device("cuda")) is None  # measured
    cpu = bf16_units(torch.device("cpu"))
    assert cpu in ("AMX", "AVX512-BF16", None)
    assert (unmeasured_choice(torch.device("cpu")) is None) == (cpu is not None)
