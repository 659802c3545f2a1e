"""Recipes: OmegaConf YAMLs validated against typed dataclasses (sections model/data/optim/loss/run/eval/trainer).

``load_recipe(path, overrides)`` merges schema <- YAML (its ``base:`` chain first, :mod:`.recipe_files`) <-
``section.key=value`` overrides. Every section is a
dataclass that checks itself in ``validate()`` (called by ``__post_init__``), so a typo'd key, a wrong type,
an unknown preset or kind, or a value out of range fails at load time with one line naming the dotted key.
Files (weights, shards) are checked before training by :mod:`stylegan_t.training.preflight`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..data.config import DataConfig
from ..errors import RecipeError
from ..latents import is_seed
from ..models.config import GeneratorConfig
from ..models.discriminator import DiscriminatorConfig
from ..models.generator import TRAIN_MODES
from ..utils.text import comma_items
from ..utils.validation import in_range, non_negative, one_of, positive, require
from .module_class import STOCK_MODULE, is_class_path
from .recipe_files import RECIPES_DIR, find_recipe, merged_recipe_file  # noqa: F401 - re-exported


@dataclass
class ModelSection:
    #: the LightningModule that trains: ``package.module:Class``, a subclass of StyleGANT (docs/extending.md)
    module: str = STOCK_MODULE
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    #: all | text_encoder | freeze64 (paper App. A: text-encoder phase, progressive growing)
    train_mode: str = "all"
    #: checkpoint to start from (progressive growing, text-encoder phase); shapes must match where keys do
    init_from: Optional[str] = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "model") -> None:
        require(is_class_path(self.module), f"{where}.module",
                f"must be 'package.module:ClassName' (a StyleGANT subclass), got {self.module!r}")
        one_of(self.train_mode, f"{where}.train_mode", TRAIN_MODES)
        if self.train_mode == "text_encoder":
            require(bool(self.generator.text_encoder.model), f"{where}.train_mode", "'text_encoder' needs a text encoder model")


@dataclass
class OptimSection:
    #: global batch over all devices and micro-batches (paper App. A: 2048)
    batch_size: int = 2048
    #: images per device per forward pass; batch_size / (devices * micro_batch_size) micro-batches accumulate
    micro_batch_size: int = 64
    g_lr: float = 0.002
    d_lr: float = 0.002
    betas: List[float] = field(default_factory=lambda: [0.0, 0.99])
    eps: float = 1e-8
    #: EMA half-life in kimg; None = batch_size * 10 / 32 (the original release's default)
    ema_kimg: Optional[float] = None
    ema_rampup: Optional[float] = 0.05
    #: not in the paper: the G step scores the D step's fakes (same latents), so G runs forward once per
    #: micro-batch instead of twice; every micro-batch's G graph is then held through the D step (memory)
    reuse_fakes: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def per_rank_batch(self, world_size: int) -> int:
        """Images per rank per iteration: the global batch split over ``world_size`` ranks in whole micro-batches."""
        require(self.batch_size % (world_size * self.micro_batch_size) == 0, "optim.batch_size",
                f"({self.batch_size}) must be a multiple of devices x nodes ({world_size}) x optim.micro_batch_size "
                f"({self.micro_batch_size})")
        return self.batch_size // world_size

    def validate(self, where: str = "optim") -> None:
        for key in ("batch_size", "micro_batch_size"):
            value = getattr(self, key)
            require(isinstance(value, int) and value > 0, f"{where}.{key}", f"must be an integer > 0, got {value!r}")
        require(self.batch_size % self.micro_batch_size == 0, f"{where}.batch_size",
                f"({self.batch_size}) must be a multiple of {where}.micro_batch_size ({self.micro_batch_size})")
        for key in ("g_lr", "d_lr", "eps"):
            positive(getattr(self, key), f"{where}.{key}")
        require(len(self.betas) == 2, f"{where}.betas", f"must be two numbers [beta1, beta2], got {list(self.betas)}")
        for index, beta in enumerate(self.betas):
            in_range(beta, f"{where}.betas[{index}]", 0.0, 1.0, high_open=True)
        for key in ("ema_kimg", "ema_rampup"):
            if getattr(self, key) is not None:
                non_negative(getattr(self, key), f"{where}.{key}")


#: how the matching-aware term picks each real image's wrong caption (:func:`stylegan_t.losses.mismatched_conditions`)
MISMATCH_NEGATIVES = ("neighbour", "hardest")


@dataclass
class LossSection:
    #: CLIP guidance weight (paper Sec. 3.3 / App. A: 0.2; 50 in the text-encoder phase); 0 disables it
    clip_weight: float = 0.0
    clip_model: str = "ViT-L-14-quickgelu"
    #: the guidance CLIP's weights: a file, a tag in the weights folder, or ``random`` (tests only)
    clip_pretrained: Optional[str] = None
    #: D-input blur: sigma_0 and the kimg over which it fades to 0
    blur_sigma: float = 32.0
    blur_fade_kimg: float = 1000.0
    #: weight of the matching-aware D term (real image + another sample's caption = fake); not in the paper
    mismatch_weight: float = 0.0
    #: which caption a real image gets for that term: ``neighbour`` (the next sample's) or ``hardest`` (the batch's
    #: most similar caption that is no paraphrase: one-word differences become the common lesson)
    mismatch_negatives: str = "neighbour"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "loss") -> None:
        for key in ("clip_weight", "blur_sigma", "blur_fade_kimg", "mismatch_weight"):
            non_negative(getattr(self, key), f"{where}.{key}")
        one_of(self.mismatch_negatives, f"{where}.mismatch_negatives", MISMATCH_NEGATIVES)
        if self.clip_weight > 0:
            require(bool(self.clip_model), f"{where}.clip_model", "must name a CLIP when loss.clip_weight > 0")


@dataclass
class RunSection:
    dir: str = "runs/stylegan-t"
    seed: int = 0
    #: stop after this many thousand real images (all ranks)
    total_kimg: float = 25000.0
    sample_every_kimg: float = 100.0
    sample_prompts: List[str] = field(
        default_factory=lambda: ["a photo of a red car", "a painting of a fox", "an astronaut riding a horse", "a bowl of fruit"]
    )
    sample_seeds: List[int] = field(default_factory=lambda: [0, 1, 2, 3])
    sample_truncation: float = 1.0
    #: keep a numbered checkpoint every N epochs (last.ckpt is always kept)
    checkpoint_every_epochs: int = 1
    #: sharded strategy only: checkpoint activations of the synthesis blocks
    activation_checkpointing: bool = False
    #: torch.compile the G and D forward passes in place (state-dict keys unchanged); slow first iterations
    compile: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "run") -> None:
        require(bool(self.dir), f"{where}.dir", "must name a folder")
        non_negative(self.seed, f"{where}.seed")
        positive(self.total_kimg, f"{where}.total_kimg")
        positive(self.sample_every_kimg, f"{where}.sample_every_kimg")
        require(bool(self.sample_prompts) and bool(self.sample_seeds), f"{where}.sample_prompts",
                "and run.sample_seeds must not be empty (the sample grid is prompts x seeds)")
        require(all(is_seed(s) for s in self.sample_seeds), f"{where}.sample_seeds", "must be integers in [0, 2**63-1]")
        require(math.isfinite(self.sample_truncation), f"{where}.sample_truncation", "must be finite")
        require(self.checkpoint_every_epochs >= 1, f"{where}.checkpoint_every_epochs", f"must be >= 1, got {self.checkpoint_every_epochs}")


@dataclass
class EvalSection:
    """FID / CLIP score during training (``every_kimg: null`` disables them); weights are local files."""

    every_kimg: Optional[float] = None
    num_samples: int = 5000
    #: FID with the standard Inception (file: docs/evaluation.md); false to skip FID
    fid: bool = True
    inception_weights: Optional[str] = None
    #: CLIP score with its own open_clip model (paper Sec. 4: ViT-g-14 laion2b_s12b_b42k); null to skip
    clip_model: Optional[str] = None
    clip_pretrained: Optional[str] = None
    truncation_psi: float = 1.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "eval") -> None:
        if self.every_kimg is not None:
            positive(self.every_kimg, f"{where}.every_kimg")
        positive(self.num_samples, f"{where}.num_samples")
        require(math.isfinite(self.truncation_psi), f"{where}.truncation_psi", "must be finite")


#: accelerators and precisions lightning.Trainer understands (strings a recipe can hold); precision ``auto``: the faster
#: of 32-true and bf16-mixed on this device and model, measured when the run starts (:mod:`.auto_precision`)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("auto", "64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64", "32", "16", "bf16")


@dataclass
class TrainerSection:
    """The ``lightning.Trainer`` arguments stylegan_t reads, typed; any other Trainer argument goes in ``extra``.

    ``strategy``: ``ddp`` / ``fsdp`` get the settings this model needs (:func:`stylegan_t.training.fit.build_strategy`).
    ``logger: false`` turns logging off; true keeps the default TensorBoard/CSV logger of the run folder.
    """

    accelerator: str = "auto"
    #: int (-1 = all), a list of device indices, or "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    enable_progress_bar: bool = True
    logger: bool = True
    log_every_n_steps: int = 1
    #: other ``lightning.Trainer`` keyword arguments, passed through as given (e.g. ``{max_time: "00:12:00:00"}``)
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "trainer") -> None:
        one_of(self.accelerator, f"{where}.accelerator", ACCELERATORS)
        one_of(str(self.precision), f"{where}.precision", PRECISIONS)
        devices = self.devices
        ok = (devices == "auto" or (isinstance(devices, int) and not isinstance(devices, bool) and (devices == -1 or devices > 0))
              or (isinstance(devices, str) and comma_items(devices) and all(p.isdigit() for p in comma_items(devices)))
              or (isinstance(devices, (list, tuple)) and devices and all(isinstance(d, int) and d >= 0 for d in devices)))
        require(bool(ok), f"{where}.devices", f"must be 'auto', -1, a count > 0 or a list of device indices, got {devices!r}")
        require(isinstance(self.num_nodes, int) and self.num_nodes >= 1, f"{where}.num_nodes", f"must be >= 1, got {self.num_nodes!r}")
        require(bool(self.strategy), f"{where}.strategy", "must name a strategy ('auto', 'ddp', 'fsdp', ...)")
        positive(self.log_every_n_steps, f"{where}.log_every_n_steps")
        typed = {f.name for f in fields(self)} - {"extra"}
        clash = sorted(set(self.extra) & typed)
        require(not clash, f"{where}.extra", f"repeats typed trainer keys {clash}: set them as trainer.<key>")

    def to_kwargs(self) -> dict[str, Any]:
        """``lightning.Trainer`` keyword arguments: the typed keys (``logger: true`` = left to the caller) plus ``extra``."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("extra", "logger")}
        if not self.logger:
            kwargs["logger"] = False
        kwargs.update(self.extra)
        return kwargs


@dataclass
class Recipe:
    """A whole training run in one typed config: model, data, optimizers, losses, run, evaluation and trainer."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    run: RunSection = field(default_factory=RunSection)
    eval: EvalSection = field(default_factory=EvalSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Every section, then the checks that span sections."""
        for name in ("model", "data", "optim", "loss", "run", "eval", "trainer"):
            getattr(self, name).validate(name)
        self.model.generator.validate("model.generator")
        self.model.discriminator.validate("model.discriminator")
        devices, nodes = self.trainer.devices, self.trainer.num_nodes
        per_node = len(devices) if isinstance(devices, (list, tuple)) else devices if isinstance(devices, int) and devices > 0 else None
        if per_node is not None:  # else known only when the Trainer starts (build_datamodule checks it then)
            self.optim.per_rank_batch(per_node * nodes)


def describe_config_error(err: Exception) -> str:
    """OmegaConf's message on one line, without its internals (``full_key``, ``reference_type``, ``object_type``).

    An unknown key reads ``unknown key 'trainer.devcies'; did you mean 'trainer.devices'?``.
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    key = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), "")
    head = lines[0] if lines else type(err).__name__
    unknown = re.match(r"Key '([^']+)' not in '\w+'", head)
    if unknown:
        key = key or unknown.group(1)
        section = key.rsplit(".", 1)[0] + "." if "." in key else ""
        guesses = re.findall(r"'([^']+)'", head.split("Did you mean", 1)[1]) if "Did you mean" in head else []
        hint = (f"; did you mean {' or '.join(repr(section + g) for g in guesses[:3])}?" if guesses
                else "; `stylegan-t config RECIPE` prints every key")
        return f"unknown key '{key}'{hint}"
    return f"{key}: {head}" if key and key not in head else head


def load_recipe(source: str | Path | dict | None = None, overrides: list[str] | None = None) -> Recipe:
    """Schema <- YAML file / built-in name / dict <- dotlist overrides, validated; returns a typed Recipe."""
    try:
        cfg = OmegaConf.structured(Recipe)
        if source is not None:
            loaded = OmegaConf.create(source) if isinstance(source, dict) else merged_recipe_file(source)
            cfg = OmegaConf.merge(cfg, loaded)
        if overrides:
            bad = [o for o in overrides if "=" not in o]
            if bad:
                raise RecipeError(f"overrides must look like section.key=value, got {bad}")
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        recipe = OmegaConf.to_object(cfg)
    except RecipeError:
        raise
    except (OmegaConfBaseException, ValueError, TypeError) as err:
        raise RecipeError(f"invalid recipe: {describe_config_error(err)}") from None
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain nested dict (what checkpoints store: loads under torch's weights_only default)."""
    return OmegaConf.to_container(OmegaConf.structured(recipe), resolve=True)


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML (``stylegan-t config`` prints it; ``fit`` writes it as ``run.dir/recipe.yaml``)."""
    return OmegaConf.to_yaml(OmegaConf.structured(recipe))
