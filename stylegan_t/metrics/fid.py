"""FID on torchmetrics (the zero-shot MS-COCO FID of arXiv 2301.09515, Sec. 4), with the standard FID Inception
from a local file, or any extractor.

Images enter as uint8 ``[N, 3, H, W]`` or floats in ``[-1, 1]``; floats are quantized to uint8 the way
generated images are saved (the original release scores generated images as uint8), so a generator's output and
the same images read back from PNG score identically.

Resize: the standard Inception resizes to 299 x 299 itself. ``antialias=False`` (our default) takes
torch-fidelity's port of TF1 ``resize_bilinear``, the resize of the TF Inception graph behind the
published FIDs; torchmetrics' default ``antialias=True`` is torch's antialiased bilinear with
half-pixel centres, which gives different (not comparable) FIDs. See docs/evaluation.md.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from ..images import to_uint8
from ..utils.local_files import MissingWeightsError, require_local_file, weights_dir

#: file name of the standard FID Inception's weights (the TF graph ported to PyTorch), looked up in the weights folder
INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URLS = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
)
INCEPTION_FEATURE_DIMS = (64, 192, 768, 2048)
_HOW_TO_GET_INCEPTION = (
    f"On a machine with internet access download {INCEPTION_WEIGHTS_URLS[0]} (also published by "
    f"torch-fidelity as {INCEPTION_WEIGHTS_URLS[1]}), copy it to this machine and pass its path as "
    f"`weights_path`, or save it as $STYLEGAN_T_WEIGHTS/{INCEPTION_WEIGHTS_FILE} "
    "(default folder ~/.cache/stylegan_t). See docs/evaluation.md."
)


def default_inception_path() -> Path:
    """``$STYLEGAN_T_WEIGHTS/pt_inception-2015-12-05-6726825d.pth`` (default folder ``~/.cache/stylegan_t``)."""
    return weights_dir() / INCEPTION_WEIGHTS_FILE


def metric_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images as the metrics take them: ``[N, 3, H, W]`` (grayscale ``[N, 1, H, W]`` repeated to three
    channels), uint8 as is, floats in ``[-1, 1]`` quantized by :func:`stylegan_t.images.to_uint8`."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape [N, 3, H, W] (or [N, 1, H, W]), got {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return to_uint8(images)


def resize_uint8(images: torch.Tensor, size: int, *, antialias: bool = False) -> torch.Tensor:
    """Bilinear resize of uint8 images to ``size`` x ``size`` (half-pixel centres), rounded back to uint8."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    return x.round().clamp(0, 255).to(torch.uint8)


def load_inception(
    weights_path: str | os.PathLike | None = None, *, num_features: int = 2048, antialias: bool = False
) -> nn.Module:
    """The standard FID Inception (TF 2015-12-05 graph ported to PyTorch) from a local weights file.

    Takes uint8 ``[N, 3, H, W]``, returns ``[N, num_features]``. Needs the optional package
    ``torch-fidelity`` (``pip install stylegan_t[fid]``); raises :class:`MissingWeightsError` naming
    ``pt_inception-2015-12-05-6726825d.pth`` when the file is not on disk. Nothing is downloaded.
    """
    if num_features not in INCEPTION_FEATURE_DIMS:
        raise ValueError(f"num_features must be one of {INCEPTION_FEATURE_DIMS}, got {num_features}")
    path = require_local_file(
        weights_path if weights_path is not None else default_inception_path(),
        what=f"FID Inception ({INCEPTION_WEIGHTS_FILE})",
        how=_HOW_TO_GET_INCEPTION,
    )
    try:
        import torch_fidelity  # noqa: F401  (torchmetrics' Inception is built on it)
    except ImportError as err:
        raise ModuleNotFoundError(
            "The standard FID Inception needs the optional package torch-fidelity: "
            "`pip install stylegan_t[fid]` (or `pip install torch-fidelity`). Alternatively pass your own "
            "feature extractor: FID(feature=my_module, num_features=...)."
        ) from err
    # torch-fidelity unpickles the file with weights_only=False: read it first as plain data (by content), refuse
    # anything else, and hand it over only when it is the Inception's torch file.
    from ..utils.weight_files import SAFETENSORS, read_weights, weights_format

    what = f"FID Inception ({INCEPTION_WEIGHTS_FILE})"
    state = read_weights(path, what=what, mmap=True)
    if weights_format(path) == SAFETENSORS or "Conv2d_1a_3x3.conv.weight" not in state:
        raise MissingWeightsError(f"'{path}' does not hold the FID Inception weights as a PyTorch file. {_HOW_TO_GET_INCEPTION}")
    del state
    from torchmetrics.image.fid import NoTrainInceptionV3

    net = NoTrainInceptionV3(
        name="inception-v3-compat",
        features_list=[str(num_features)],
        feature_extractor_weights_path=str(path),
        antialias=antialias,
    )
    net.num_features = num_features  # read by FrechetInceptionDistance instead of a probe forward
    return net


class _UInt8Features(nn.Module):
    """A user's extractor behind the uint8 contract: optional resize to ``input_size``, then ``net``."""

    def __init__(self, net: nn.Module, *, num_features: int, input_size: int | None, antialias: bool) -> None:
        super().__init__()
        self.net = net
        self.num_features = num_features
        self.input_size = input_size
        self.antialias = antialias

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.input_size is not None:
            images = resize_uint8(images, self.input_size, antialias=self.antialias)
        return self.net(images).flatten(1)


def _rank() -> int:
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def keep_out_of_checkpoint(module: nn.Module, child: str) -> None:
    """Leave the frozen network ``module.<child>`` out of ``state_dict()`` and let strict loading accept that.

    Metrics attached to a LightningModule would otherwise put e.g. 90 MB of Inception in every checkpoint
    (torchmetrics keeps its feature network as a child module). Keys of the child missing at load time keep their current values.
    """
    marker = f"{child}."

    def drop(mod: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
        for key in [k for k in state_dict if k.startswith(prefix + marker)]:
            del state_dict[key]

    def fill(mod: nn.Module, state_dict: dict, prefix: str, *args) -> None:
        for key, value in getattr(mod, child).state_dict(keep_vars=True).items():
            state_dict.setdefault(prefix + marker + key, value.detach())

    module.register_state_dict_post_hook(drop)
    module.register_load_state_dict_pre_hook(fill)


class FID(FrechetInceptionDistance):
    """Fréchet distance of feature statistics of real vs generated images; sums sync across ranks.

    ``feature=None`` loads the standard Inception from ``weights_path`` (see :func:`load_inception`);
    any ``nn.Module`` mapping uint8 ``[N, 3, S, S]`` to ``[N, num_features]`` can replace it, with
    ``input_size=S`` to have images resized for it. Images: uint8 or floats in ``[-1, 1]``.

    Example::

        fid = FID(weights_path="/data/weights/pt_inception-2015-12-05-6726825d.pth")
        fid.update(real_uint8, real=True); fid.update(fake_in_minus1_1, real=False)
        value = float(fid.compute())
    """

    def __init__(
        self,
        feature: nn.Module | None = None,
        *,
        num_features: int | None = None,
        weights_path: str | os.PathLike | None = None,
        input_size: int | None = None,
        antialias: bool = False,
        reset_real_features: bool = True,
        keep_weights_in_state_dict: bool = False,
        **kwargs,
    ) -> None:
        if feature is None:
            extractor = load_inception(weights_path, num_features=num_features or 2048, antialias=antialias)
        else:
            if num_features is None:
                num_features = getattr(feature, "num_features", None)
            if num_features is None:
                with torch.no_grad():
                    probe = torch.zeros(2, 3, input_size or 64, input_size or 64, dtype=torch.uint8)
                    num_features = int(feature(probe).flatten(1).shape[1])
            extractor = _UInt8Features(feature, num_features=int(num_features), input_size=input_size, antialias=antialias)
        super().__init__(feature=extractor, reset_real_features=reset_real_features, **kwargs)
        # The base class treats every nn.Module as a custom model (no uint8 rescaling); we feed uint8 always.
        self.orig_dtype = torch.float32
        if not keep_weights_in_state_dict:
            keep_out_of_checkpoint(self, "inception")

    def update(self, imgs: torch.Tensor, real: bool) -> None:
        """Add a batch of real (``real=True``) or generated images: uint8 or floats in ``[-1, 1]``."""
        with torch.no_grad():
            super().update(metric_uint8(imgs).to(self.device), real=real)

    _REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")

    def save_real_statistics(self, path: str | os.PathLike) -> Path:
        """Save the real-image sums (synced across ranks; only rank 0 writes), e.g. for COCO reals reused per run."""
        path = Path(path)
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, process_group=self.process_group):
            stats = {name: getattr(self, name).detach().cpu() for name in self._REAL_STATES}
        if _rank() == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({**stats, "num_features": int(stats["real_features_sum"].numel())}, path)
        return path

    def load_real_statistics(self, path: str | os.PathLike) -> None:
        """Load sums written by :meth:`save_real_statistics` (rank 0 holds them, other ranks zeros, so the
        all-reduce counts them once). Use ``reset_real_features=False`` so ``reset()`` keeps them."""
        stats = torch.load(Path(path), map_location="cpu", weights_only=True)
        if int(stats["num_features"]) != self.real_features_sum.numel():
            raise ValueError(
                f"real statistics in '{path}' have {stats['num_features']} features, this FID's extractor "
                f"{self.real_features_sum.numel()}: they come from another feature extractor"
            )
        for name in self._REAL_STATES:
            value = stats[name].to(device=self.device, dtype=getattr(self, name).dtype)
            setattr(self, name, value if _rank() == 0 else torch.zeros_like(value))

    @property
    def num_real(self) -> int:
        """Real images accumulated on this rank."""
        return int(self.real_features_num_samples)

    @property
    def num_fake(self) -> int:
        """Generated images accumulated on this rank."""
        return int(self.fake_features_num_samples)
