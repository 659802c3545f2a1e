"""Hardware-normalised efficiency: achieved GFLOP/s of G and D passes and of a whole training iteration against
this machine's measured matmul peak (same run), data images/s against raw JPEG decoding, peak memory, and an
A/B of today's ops against the baseline ops (``benchmarks/baseline``, commit 54bde8f: G's modulated conv and
bias_act, the optimisation step's Adam, EMA and gradient finish), alternated in one run.

    python benchmarks/efficiency.py                         # CPU, lite preset at 32 px, batch 4
    python benchmarks/efficiency.py --device cuda --preset lite --resolution 64 --batch 32
"""
from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t.losses import d_hinge_loss, g_nonsaturating_loss  # noqa: E402
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig  # noqa: E402
from stylegan_t.models import synthesis as synthesis_module  # noqa: E402
from stylegan_t.models.discriminator import ProjectedDiscriminator  # noqa: E402
from stylegan_t.models.discriminator.config import DiscriminatorConfig, feature_network_preset  # noqa: E402
from stylegan_t.nn.fourier import FourierFeatures  # noqa: E402
from stylegan_t.nn.spectral import SpectralConv1d, SpectralNorm  # noqa: E402
from stylegan_t.training.ema import GeneratorEMA  # noqa: E402
from stylegan_t.training.module import COMPILED_VARIANTS  # noqa: E402
from stylegan_t.training.optim import make_adam  # noqa: E402
from stylegan_t.training.step_math import finish_gradients  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Seconds per call, ``repeats`` times after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - start)
    return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (matmuls and convolutions, forward and backward), by ``FlopCounterMode``."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> float:
    """Measured GFLOP/s of a square matmul: the machine's practical peak for this dtype."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    seconds = min(timed(lambda: a @ b, device, repeats))
    return 2 * size**3 / seconds / 1e9


class StepOps:
    """The optimisation step's own pieces, as ``StyleGANT.training_step`` uses them: Adam, EMA, gradient finish."""

    make_adam = staticmethod(make_adam)
    finish_gradients = staticmethod(finish_gradients)

    @staticmethod
    def ema_update(ema: GeneratorEMA, generator: torch.nn.Module, *, beta: float) -> None:
        ema.update(generator, beta=beta)


class BaselineStepOps:
    """The same pieces as of the baseline commit (``benchmarks/baseline/training.py``)."""

    def __init__(self) -> None:
        from baseline import training

        self.make_adam, self.finish_gradients, self.ema_update = training.make_adam, training.finish_gradients, training.ema_update


@contextlib.contextmanager
def baseline_ops(work: "Workload") -> Iterator[None]:
    """Swap the synthesis network's modulated conv and bias_act, its input's layout, the heads' spectral-norm conv
    and ``work``'s step ops for the baseline copies (restored after)."""
    from baseline import bias_act as old_bias_act
    from baseline import modconv as old_modconv
    from baseline import training as old_training

    saved = (synthesis_module.modulated_conv2d, synthesis_module.bias_act, work.step, SpectralNorm.forward,
             SpectralConv1d.forward, FourierFeatures.forward)
    synthesis_module.modulated_conv2d, synthesis_module.bias_act = old_modconv.modulated_conv2d, old_bias_act.bias_act
    SpectralNorm.forward, SpectralConv1d.forward = old_training.spectral_norm_forward, old_training.spectral_conv1d_forward
    FourierFeatures.forward = old_training.fourier_features_forward(FourierFeatures.forward)
    work.baseline_step = work.baseline_step or BaselineStepOps()
    work.step = work.baseline_step
    try:
        yield
    finally:
        (synthesis_module.modulated_conv2d, synthesis_module.bias_act, work.step, SpectralNorm.forward,
         SpectralConv1d.forward, FourierFeatures.forward) = saved


class Workload:
    """G, D, inputs and optimizers of one configuration; each method is one timed unit of work."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        torch.manual_seed(0)
        text = TextEncoderConfig(model="", text_dim=args.text_dim)
        cfg = GeneratorConfig(img_resolution=args.resolution, preset=args.preset, text_encoder=text)
        self.device = device
        self.G = Generator(cfg).to(device)
        fn = feature_network_preset(args.feature_network)
        self.D = ProjectedDiscriminator(self.G.c_dim, DiscriminatorConfig(feature_network=fn)).to(device)
        b = args.batch
        self.z = torch.randn(b, self.G.z_dim, device=device)
        self.c = torch.nn.functional.normalize(torch.randn(b, self.G.c_dim, device=device), dim=1)
        self.real = torch.rand(b, 3, args.resolution, args.resolution, device=device) * 2 - 1
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        self.G_ema = GeneratorEMA(self.G)
        self.step, self.baseline_step = StepOps(), None
        self.optimizers: dict[int, tuple[torch.optim.Optimizer, torch.optim.Optimizer]] = {}
        self.dtype: torch.dtype | None = None
        #: (pass, precision) -> FLOPs of one call, counted on the eager networks
        self.flops: dict[tuple[str, str], int] = {}

    def adam(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """(G's, D's) optimizer built by the current step ops (one pair per variant, kept across calls)."""
        if id(self.step) not in self.optimizers:
            settings = dict(lr=1e-6, betas=(0.0, 0.99), eps=1e-8)
            self.optimizers[id(self.step)] = (self.step.make_adam(self.g_params, **settings),
                                              self.step.make_adam(self.d_params, **settings))
        return self.optimizers[id(self.step)]

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    @torch.no_grad()
    def g_forward(self) -> torch.Tensor:
        self.G.eval()
        with self.autocast():
            return self.G(self.z, self.c, noise_mode="const")

    def g_forward_backward(self) -> None:
        self.G.train()
        with self.autocast():
            img = self.G(self.z, self.c)
        img.float().square().mean().backward()

    def d_forward_backward(self) -> None:
        self.D.train()
        with self.autocast():
            loss = d_hinge_loss(self.D(self.real, self.c), self.D(self.real.flip(3), self.c))
        loss.backward()

    def iteration(self) -> None:
        """One training iteration as ``StyleGANT.training_step``: D step on real + fake, then G step, then the
        EMA of G; gradients finished and Adam stepped as there."""
        g_opt, d_opt = self.adam()
        self.G.train()
        self.D.train()
        with self.autocast():
            with torch.no_grad():
                fake = self.G(self.z, self.c)
            loss = d_hinge_loss(self.D(self.real, self.c), self.D(fake, self.c))
        loss.backward()
        self.step.finish_gradients(self.d_params, num_micro_batches=1)
        d_opt.step()
        d_opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = g_nonsaturating_loss(self.D(self.G(self.z, self.c), self.c))
        loss.backward()
        self.step.finish_gradients(self.g_params, num_micro_batches=1)
        g_opt.step()
        g_opt.zero_grad(set_to_none=True)
        self.D.zero_grad(set_to_none=True)
        self.step.ema_update(self.G_ema, self.G, beta=0.999)


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory so far: allocated tensors on CUDA, the process's max resident set on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


PASSES = ("g_forward", "g_forward_backward", "d_forward_backward", "iteration")


def compile_networks(work: Workload, backend: str) -> None:
    """What ``run.compile`` compiles, in place: G's synthesis and mapping MLP, D's feature network and heads."""
    for module in (work.G.synthesis, work.G.mapping.mlp, work.D.feature_network, *work.D.heads.values()):
        module.compile(backend=backend)


def efficiency_table(work: Workload, args: argparse.Namespace, device: torch.device, *, compiled: bool = False) -> list[str]:
    """One row per pass and precision (and each precision's matmul peak); ``compiled``: the networks compiled as
    ``run.compile`` compiles them first (FLOPs counted on the eager passes, compilation outside the timing)."""
    rows = []
    for prec in args.precision:
        work.dtype = DTYPES[prec]
        for name in PASSES:
            if (name, prec) not in work.flops:
                work.flops[name, prec] = count_flops(getattr(work, name))
    if compiled:
        compile_networks(work, args.compile_backend)
    for prec in args.precision:
        work.dtype = DTYPES[prec]
        peak = matmul_peak(device, work.dtype or torch.float32, args.matmul_size, args.repeats)
        rows.append(f"{'matmul peak':<27} {prec:>5} {'':>10} {'':>9} {peak:>10.1f} {100.0:>7.1f} {'':>9}")
        for name in PASSES:
            fn, flops = getattr(work, name), work.flops[name, prec]
            if compiled:
                fn()  # compiles here, not in the timing
            seconds = statistics.median(timed(fn, device, args.repeats))
            gflops = flops / seconds / 1e9
            label = f"{name}{' compiled' if compiled else ''}"
            rows.append(
                f"{label:<27} {prec:>5} {flops / 1e9:>10.2f} {args.batch / seconds:>9.2f} {gflops:>10.1f} "
                f"{100 * gflops / peak:>7.1f} {peak_memory_mib(device):>9.0f}"
            )
    return rows


def write_jpegs(count: int, size: int) -> list[bytes]:
    """``count`` random-content JPEGs of ``size`` px, as bytes (what a shard holds)."""
    from PIL import Image

    out = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(count):
        base = torch.rand(3, 8, 8, generator=gen)
        img = torch.nn.functional.interpolate(base[None], size=(size, size), mode="bilinear")[0]
        arr = (img.permute(1, 2, 0) * 255).to(torch.uint8).numpy()
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def data_rates(args: argparse.Namespace) -> tuple[float, float]:
    """(raw PIL JPEG decodes/s at full size, pipeline ``decode_image`` images/s at the training resolution)."""
    from PIL import Image

    from stylegan_t.data.decode import decode_image

    jpegs = write_jpegs(args.data_images, args.jpeg_size)

    def raw() -> None:
        for data in jpegs:
            Image.open(io.BytesIO(data)).convert("RGB").load()

    def pipeline() -> None:
        for data in jpegs:
            decode_image(data, args.resolution)

    cpu = torch.device("cpu")
    raw_s = statistics.median(timed(raw, cpu, args.repeats))
    pipe_s = statistics.median(timed(pipeline, cpu, args.repeats))
    return len(jpegs) / raw_s, len(jpegs) / pipe_s


def ab_rows(work: Workload, args: argparse.Namespace, device: torch.device) -> list[str]:
    """Baseline ops vs today's ops, alternated ``repeats`` times in this process; medians and ratios.

    Rows: G inference fp32, G inference bf16 (against baseline fp32, the issue's target), training iteration
    fp32; plus the mean absolute difference of today's bf16 images from baseline fp32.
    """
    cases = [("G inference", "fp32", "g_forward"), ("G inference", "bf16", "g_forward"), ("iteration", "fp32", "iteration")]
    rows = []
    for label, prec, name in cases:
        fn = getattr(work, name)
        old, new = [], []
        for _ in range(args.ab_repeats):
            work.dtype = None  # baseline always float32: the reference speed of today's release
            with baseline_ops(work):
                old += timed(fn, device, 1)
            work.dtype = DTYPES[prec]
            new += timed(fn, device, 1)
        mo, mn = statistics.median(old), statistics.median(new)
        rows.append(f"{label:<12} {prec:>5} {mo:>10.3f} {mn:>10.3f} {mo / mn:>7.2f}x")
    work.dtype = None
    with baseline_ops(work):
        ref = work.g_forward().float()
    work.dtype = torch.bfloat16
    mad = float((work.g_forward().float() - ref).abs().mean())
    work.dtype = None
    mad32 = float((work.g_forward().float() - ref).abs().mean())
    rows.append(f"images vs baseline fp32: mean |diff| fp32 {mad32:.2e}, bf16 {mad:.2e}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--text-dim", type=int, default=768)
    parser.add_argument("--feature-network", default="vit-tiny-384", help="feature network preset (dino-vits16 = paper)")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=sorted(DTYPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ab-repeats", type=int, default=5, help="alternations of baseline and today's ops (0: skip)")
    parser.add_argument("--ab-only", action="store_true", help="only the A/B table")
    parser.add_argument("--compile", action="store_true", help="then time each pass again with the networks compiled as run.compile does")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of --compile (tests: eager)")
    parser.add_argument("--matmul-size", type=int, default=1024)
    parser.add_argument("--data-images", type=int, default=32)
    parser.add_argument("--jpeg-size", type=int, default=512, help="side of the test JPEGs (decoded with draft mode)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__} preset={args.preset} "
          f"res={args.resolution} batch={args.batch} feature_network={args.feature_network}")
    work = Workload(args, device)
    if not args.ab_only:
        report(work, args, device)
    if args.ab_repeats > 0:
        print(f"\nA/B, {args.ab_repeats} alternations (s per call, medians; baseline = commit 54bde8f ops in float32)")
        header = f"{'what':<12} {'prec':>5} {'baseline':>10} {'today':>10} {'speed':>8}"
        print(header + "\n" + "-" * len(header))
        for row in ab_rows(work, args, device):
            print(row)
    if args.compile:  # last: compiled networks stay compiled
        print("\ncompiled (run.compile), same FLOPs as eager:")
        with torch._dynamo.config.patch(recompile_limit=COMPILED_VARIANTS):  # as the training step does
            for row in efficiency_table(work, args, device, compiled=True):
                print(row)


def report(work: Workload, args: argparse.Namespace, device: torch.device) -> None:
    """The efficiency table and the data rates."""
    header = f"{'pass':<27} {'prec':>5} {'GFLOP':>10} {'img/s':>9} {'GFLOP/s':>10} {'% peak':>7} {'peak MiB':>9}"
    print(header + "\n" + "-" * len(header))
    for row in efficiency_table(work, args, device):
        print(row)
    raw, pipe = data_rates(args)
    print(f"\ndata: raw PIL JPEG decode {raw:.1f} img/s ({args.jpeg_size} px); pipeline decode_image {pipe:.1f} img/s "
          f"({args.resolution} px, draft mode) = {pipe / raw:.2f}x raw")


if __name__ == "__main__":
    main()
