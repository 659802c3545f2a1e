"""Recipes: OmegaConf YAMLs validated against typed dataclasses (sections model/data/optim/loss/run/trainer).

``load_recipe(path, overrides)`` merges schema <- YAML <- ``section.key=value`` overrides, so a typo'd
key or a wrong type fails before training with the key's name and the valid keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..data.config import DataConfig
from ..errors import RecipeError
from ..models.config import GeneratorConfig
from ..models.discriminator import DiscriminatorConfig


@dataclass
class ModelSection:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    #: all | text_encoder | freeze64 (SPEC: "Train modes")
    train_mode: str = "all"
    #: checkpoint to start from (progressive growing, text-encoder phase); shapes must match where keys do
    init_from: Optional[str] = None


@dataclass
class OptimSection:
    #: global batch over all devices and micro-batches (paper: 2048)
    batch_size: int = 2048
    #: images per device per forward pass; batch_size / (devices * micro_batch_size) micro-batches accumulate
    micro_batch_size: int = 64
    g_lr: float = 0.002
    d_lr: float = 0.002
    betas: List[float] = field(default_factory=lambda: [0.0, 0.99])
    eps: float = 1e-8
    #: EMA half-life in kimg; None = batch_size * 10 / 32 (SPEC)
    ema_kimg: Optional[float] = None
    ema_rampup: Optional[float] = 0.05


@dataclass
class LossSection:
    #: CLIP guidance weight (paper: 0.2; 50 in the text-encoder phase); 0 disables it
    clip_weight: float = 0.0
    clip_model: str = "ViT-L-14-quickgelu"
    clip_pretrained: Optional[str] = None
    #: D-input blur: sigma_0 and the kimg over which it fades to 0
    blur_sigma: float = 32.0
    blur_fade_kimg: float = 1000.0
    #: weight of the matching-aware D term (real image + another sample's caption = fake); not in the paper
    mismatch_weight: float = 0.0


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


@dataclass
class EvalSection:
    """FID / CLIP score during training (``every_kimg: null`` disables them); weights are local files."""

    every_kimg: Optional[float] = None
    num_samples: int = 5000
    #: FID with the standard Inception (file: docs/evaluation.md); false to skip FID
    fid: bool = True
    inception_weights: Optional[str] = None
    #: CLIP score with its own open_clip model (paper: ViT-g-14 laion2b_s12b_b42k); null to skip
    clip_model: Optional[str] = None
    clip_pretrained: Optional[str] = None
    truncation_psi: float = 1.0


@dataclass
class Recipe:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    run: RunSection = field(default_factory=RunSection)
    eval: EvalSection = field(default_factory=EvalSection)
    #: passed to lightning.Trainer; strategy 'ddp' / 'fsdp' get the settings this model needs
    trainer: Dict[str, Any] = field(
        default_factory=lambda: {"accelerator": "auto", "devices": "auto", "precision": "32-true", "strategy": "auto"}
    )


RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


def find_recipe(name_or_path: str | Path) -> Path:
    """A path, or the name of a built-in recipe (``lite-64`` -> ``stylegan_t/recipes/lite-64.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = RECIPES_DIR / f"{Path(str(name_or_path)).stem}.yaml"
    if builtin.is_file():
        return builtin
    known = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    raise RecipeError(f"recipe {str(name_or_path)!r} is neither a file nor a built-in recipe; built-ins: {known}")


def load_recipe(source: str | Path | dict | None = None, overrides: list[str] | None = None) -> Recipe:
    """Schema <- YAML file / built-in name / dict <- dotlist overrides, validated; returns a typed Recipe."""
    try:
        cfg = OmegaConf.structured(Recipe)
        if source is not None:
            loaded = OmegaConf.create(source) if isinstance(source, dict) else OmegaConf.load(find_recipe(source))
            cfg = OmegaConf.merge(cfg, loaded)
        if overrides:
            bad = [o for o in overrides if "=" not in o]
            if bad:
                raise RecipeError(f"overrides must look like section.key=value, got {bad}")
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        recipe = OmegaConf.to_object(cfg)
    except (OmegaConfBaseException, ValueError, TypeError) as err:
        if isinstance(err, RecipeError):
            raise
        raise RecipeError(f"invalid recipe: {err}") from None
    validate_recipe(recipe)
    return recipe


def validate_recipe(recipe: Recipe) -> None:
    """Cross-field checks OmegaConf cannot express."""
    from ..models.generator import TRAIN_MODES

    if recipe.model.train_mode not in TRAIN_MODES:
        raise RecipeError(f"model.train_mode must be one of {TRAIN_MODES}, got {recipe.model.train_mode!r}")
    if recipe.optim.batch_size % recipe.optim.micro_batch_size:
        raise RecipeError(
            f"optim.batch_size ({recipe.optim.batch_size}) must be a multiple of optim.micro_batch_size "
            f"({recipe.optim.micro_batch_size})"
        )


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain nested dict (what checkpoints store: loads under torch's weights_only default)."""
    return OmegaConf.to_container(OmegaConf.structured(recipe), resolve=True)


def recipe_to_yaml(recipe: Recipe) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(recipe))


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    return load_recipe(data)
