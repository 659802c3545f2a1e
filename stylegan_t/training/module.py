"""``StyleGANT``: the LightningModule that trains G and D with manual optimization (arXiv 2301.09515, Sec. 3).

One ``training_step`` is one iteration: a D step, then a G step, each accumulating gradients over the
per-rank batch split into micro-batches. Progress is counted in images seen (all ranks), not in
Lightning's ``global_step`` (which counts both optimizers' steps).
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch

from ..data.batch import Batch, DataCounts
from ..losses import d_hinge_loss, d_mismatch_loss, g_nonsaturating_loss, mismatched_conditions
from ..losses.blur import blur_images, blur_sigma
from ..models.discriminator import ProjectedDiscriminator
from ..models.generator import Generator
from ..persistence.checkpoint import check_module_checkpoint, restore_checkpoint_meta, write_checkpoint_meta
from ..persistence.frozen import FrozenByReference
from ..persistence.references import open_clip_weights_file
from ..persistence.training_layout import PARTS, CheckpointMeta
from .ema import GeneratorEMA
from .frozen_parts import frozen_training_networks
from .init_from import load_init_weights
from .module_class import class_path
from .optim import make_adam
from .recipe import Recipe, load_recipe, recipe_to_dict
from .sharding import checkpoint_synthesis_blocks, shard_fsdp2
from .step_math import default_ema_kimg, ema_beta, finish_gradients, micro_batch_objective, step_seed
from .step_rng import StepRandomness

#: compiled variants torch keeps per function during a training step under ``run.compile``
COMPILED_VARIANTS = 32
#: one iteration's micro-batches: (real images, their captions)
MicroBatches = list[tuple[torch.Tensor, list[str]]]


class StyleGANT(FrozenByReference, L.LightningModule):
    """Generator, projected discriminator, EMA generator and (optionally) CLIP guidance, from a recipe.

    Override ``build_generator`` / ``build_discriminator`` / ``build_clip_guidance`` to swap networks,
    ``discriminator_loss`` / ``generator_loss`` to change the objective.
    """

    def __init__(self, recipe: Recipe | dict[str, Any]) -> None:
        super().__init__()
        recipe = load_recipe(recipe) if isinstance(recipe, dict) else recipe
        self.recipe = recipe
        # Plain dicts only: checkpoints then load under torch's weights_only default.
        self.save_hyperparameters({"recipe": recipe_to_dict(recipe)})
        self.automatic_optimization = False
        self.generator = self.build_generator()
        self.discriminator = self.build_discriminator()
        self.clip_guidance = self.build_clip_guidance()
        self.generator_ema = self.build_generator_ema()
        self.share_text_tower_with_guidance()
        self.images_seen = 0
        self._step_randomness = StepRandomness()
        if recipe.model.init_from:
            load_init_weights(self, recipe.model.init_from)
        # Decide the trainable set before fit: DDP registers only parameters that require grad then.
        self.generator.set_train_mode(recipe.model.train_mode)

    # --- construction (override points) ------------------------------------------------------------

    def build_generator(self) -> Generator:
        return Generator(self.recipe.model.generator)

    def build_discriminator(self) -> torch.nn.Module:
        return ProjectedDiscriminator(c_dim=self.generator.c_dim, config=self.recipe.model.discriminator)

    @classmethod
    def pretrained_files(cls, recipe: Recipe) -> dict[str, Callable[[], Any]]:
        """``{recipe key: resolver}`` of every pretrained weights file this module loads; the preflight calls each
        resolver before any model is built. Override it when ``build_*`` no longer loads a file the recipe names
        (e.g. drop ``model.discriminator.feature_network.weights`` for a discriminator with its own backbone)."""
        from .preflight import recipe_weight_files

        return recipe_weight_files(recipe)

    def build_clip_guidance(self) -> torch.nn.Module | None:
        loss = self.recipe.loss
        if loss.clip_weight <= 0:
            return None
        from ..losses.clip_guidance import CLIPGuidance

        return CLIPGuidance(loss.clip_model, loss.clip_pretrained)

    def share_text_tower_with_guidance(self) -> None:
        """When the frozen text encoder and the guidance CLIP load the same file, keep one copy in memory: the
        encoder uses the guidance model (whose text tower it is). Runs after both are built, whatever built them."""
        te, guidance, loss = self.generator.text_encoder, self.clip_guidance, self.recipe.loss
        if te is None or guidance is None or self.recipe.model.train_mode == "text_encoder":
            return
        if te.model_name != loss.clip_model or not hasattr(guidance, "model"):
            return
        weights = open_clip_weights_file(te.model_name, te.pretrained)
        if weights is not None and weights == open_clip_weights_file(loss.clip_model, loss.clip_pretrained):
            te.model = guidance.model

    def keep_tower_by_value(self) -> None:
        """The text tower is no longer its reference (trained, or another file's weights): store it by value and give
        the EMA its own copy, as the original's EMA holds one."""
        te = self.generator.text_encoder
        te.by_reference = False
        ema_mapping = self.generator_ema.module.mapping
        if ema_mapping.text_encoder is te:
            ema_mapping.text_encoder = copy.deepcopy(te)

    def build_generator_ema(self) -> GeneratorEMA:
        """The EMA copy of G; a frozen text tower is shared with G, not copied or averaged."""
        te = self.generator.text_encoder
        frozen_tower = te is not None and self.recipe.model.train_mode != "text_encoder"
        return GeneratorEMA(self.generator, shared=[te] if frozen_tower else [])

    # --- scaling ------------------------------------------------------------------------------------

    def configure_model(self) -> None:
        """Activation checkpointing (``run.activation_checkpointing``), FSDP2 sharding under ModelParallelStrategy
        (:mod:`.sharding`: trained parts only), bf16 frozen networks under ``bf16-mixed``, ``run.compile``."""
        if getattr(self, "_configured", False):
            return
        self._configured = True
        if self.recipe.run.activation_checkpointing:
            checkpoint_synthesis_blocks(self.generator)
        if self.device_mesh is not None:
            shard_fsdp2([self.generator, self.generator_ema.module], self.discriminator_trainable_modules(),
                        self.device_mesh["data_parallel"])
        if self._trainer is not None and str(self.trainer.precision) == "bf16-mixed":
            self.cast_frozen_networks(torch.bfloat16)
        if self.recipe.run.compile:
            self.compile_networks()

    def cast_frozen_networks(self, dtype: torch.dtype) -> None:
        """Hold the frozen networks' floating-point weights in ``dtype`` (half the memory and no per-step casts).

        Only networks stored by reference (:meth:`frozen_networks`): files never hold their rounded weights. A text
        tower that trains, or is stored by value, stays float32 (under autocast its matmuls run in bf16 anyway).
        """
        for net, _ in self.frozen_networks().values():
            net.to(dtype)

    def compile_networks(self, **options: Any) -> None:
        """``run.compile``: compile G's synthesis and mapping MLP, D's feature network and heads, in place.

        ``nn.Module.compile`` keeps the modules (and state-dict keys, no ``_orig_mod.``) and compiles their
        call, so DDP, FSDP2 hooks on outer modules, toggling and checkpoints work as before. D's random
        augmentation and the EMA copy stay eager. ``options`` go to ``torch.compile`` (e.g. ``backend``).
        """
        modules = [self.generator.synthesis, self.generator.mapping.mlp, self.discriminator.feature_network]
        modules += self.discriminator_trainable_modules()
        for module in modules:
            module.compile(**options)

    def discriminator_trainable_modules(self) -> list[torch.nn.Module]:
        """The discriminator's trainable sub-modules, each sharded as one unit under FSDP2."""
        return list(self.discriminator.heads.values())

    @property
    def world_size(self) -> int:
        return self.trainer.world_size if self._trainer is not None else 1

    def kimg(self) -> float:
        return self.images_seen / 1000

    # --- data counts (owned by the data side; this module only reads and logs them) --------------------

    def data_counts(self) -> DataCounts:
        """This rank's skip / drop / shard-error counts from the datamodule's ``stats`` (zeros without one)."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        stats = getattr(datamodule, "stats", None)
        return stats if isinstance(stats, DataCounts) else DataCounts()

    # --- optimization -------------------------------------------------------------------------------

    def configure_optimizers(self):
        o = self.recipe.optim
        betas = tuple(o.betas)
        g_params = [p for p in self.generator.parameters() if p.requires_grad]
        d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        g_opt = make_adam(g_params, lr=o.g_lr, betas=betas, eps=o.eps)
        d_opt = make_adam(d_params, lr=o.d_lr, betas=betas, eps=o.eps)
        return [d_opt, g_opt]

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor, sigma: float) -> torch.Tensor:
        """Hinge loss; real and fake in separate forward passes (separate local batch-norm statistics), plus
        the optional matching-aware term (``loss.mismatch_weight``: real images under another caption), scored
        in the real images' pass (``ProjectedDiscriminator.logits_under_conditions``)."""
        logits_fake = self.discriminator(blur_images(fake, sigma), c)
        real = blur_images(real, sigma)
        if self.recipe.loss.mismatch_weight <= 0:
            return d_hinge_loss(self.discriminator(real, c), logits_fake)
        wrong, keep = mismatched_conditions(c, hardest=self.recipe.loss.mismatch_negatives == "hardest")
        if isinstance(self.discriminator, ProjectedDiscriminator):  # one pass of features and heads for both captions
            logits_real, logits_wrong = self.discriminator.logits_under_conditions(real, [c, wrong])
        else:
            logits_real, logits_wrong = self.discriminator(real, c), self.discriminator(real, wrong)
        return d_hinge_loss(logits_real, logits_fake) + self.recipe.loss.mismatch_weight * d_mismatch_loss(logits_wrong, keep)

    def generator_loss(self, fake: torch.Tensor, c: torch.Tensor, captions: list[str], sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial, CLIP) terms: ``-mean(D(fake))`` and the spherical CLIP distance (0 when disabled)."""
        adv = g_nonsaturating_loss(self.discriminator(blur_images(fake, sigma), c))
        clip = fake.new_zeros(())
        if self.clip_guidance is not None:
            clip = self.clip_guidance(fake, captions)
        return adv, clip

    def _micro_batches(self, images: torch.Tensor, captions: list[str]):
        size = self.recipe.optim.micro_batch_size
        for start in range(0, images.shape[0], size):
            yield images[start : start + size], list(captions[start : start + size])

    def _latents(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.generator.z_dim, device=self.device, generator=rng)

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        """One iteration: a D step, then a G step, each over the batch's micro-batches, then the EMA of G.
        The step's arithmetic is in :mod:`stylegan_t.training.step_math`."""
        if not self.recipe.run.compile:
            return self._iteration(batch)
        # each D head is its own class (spectral norm's parametrization) called three ways per iteration:
        # more compiled variants than torch's default limit of 8, past which calls would run uncompiled
        with torch._dynamo.config.patch(recompile_limit=COMPILED_VARIANTS):
            return self._iteration(batch)

    def _iteration(self, batch: Batch) -> None:
        images, captions = batch["image"], list(batch["caption"])
        sigma = blur_sigma(self.images_seen, sigma0=self.recipe.loss.blur_sigma, fade_kimg=self.recipe.loss.blur_fade_kimg)
        chunks = list(self._micro_batches(images, captions))
        with torch.no_grad():  # text conditions, encoded once for both steps (G's step does not change them)
            conditions = [self.generator.mapping.encode_text(caps) for _, caps in chunks]
        # seeded from (seed, images seen, rank): a resumed run draws the same latents and augmentations
        step = step_seed(self.recipe.run.seed, images_seen=self.images_seen, rank=self.global_rank)
        with self._step_randomness(self.device, step) as rng:
            fakes = self._shared_fakes(chunks, conditions, rng) if self.recipe.optim.reuse_fakes else None
            d_loss = self._discriminator_step(chunks, conditions, sigma, rng, fakes=fakes)
            g_loss, clip_loss = self._generator_step(chunks, conditions, sigma, rng, fakes=fakes)
        # Progress in images over all ranks, then the EMA of G (half-life in images).
        step_images = images.shape[0] * self.world_size
        self.images_seen += step_images
        beta = self._update_ema(step_images)
        n = len(chunks)
        self._log_step(
            {"loss_D": d_loss / n, "loss_G": g_loss / n, "loss_clip": clip_loss / n, "blur_sigma": float(sigma), "ema_beta": beta},
            batch_size=images.shape[0],
        )

    def _generator_condition(self, captions: list[str], c: torch.Tensor) -> torch.Tensor:
        """G's conditioning in its step: ``c``, or in the text-encoder phase the captions encoded with a graph."""
        return self.generator.mapping.encode_text(captions) if self.recipe.model.train_mode == "text_encoder" else c

    def _shared_fakes(self, chunks: MicroBatches, conditions: list[torch.Tensor], rng: torch.Generator) -> list[torch.Tensor]:
        """``optim.reuse_fakes``: one fake batch per micro-batch, generated with G's graph kept, which
        the D step scores detached and the G step backpropagates through (one G forward instead of two)."""
        with self.optimizers()[1].toggle_model(sync_grad=False):
            return [
                self.generator(self._latents(len(caps), rng), self._generator_condition(caps, c))
                for (_, caps), c in zip(chunks, conditions)
            ]

    def _discriminator_step(
        self, chunks: MicroBatches, conditions: list[torch.Tensor], sigma: float, rng: torch.Generator,
        fakes: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Hinge loss on blurred real and fake, accumulated over micro-batches, then one D update."""
        d_opt = self.optimizers()[0]
        total = torch.zeros((), device=self.device)
        for i, ((real, caps), c) in enumerate(zip(chunks, conditions)):
            with d_opt.toggle_model(sync_grad=i == len(chunks) - 1):
                if fakes is not None:
                    fake = fakes[i].detach()
                else:
                    with torch.no_grad():
                        fake = self.generator(self._latents(len(caps), rng), c)
                loss = self.discriminator_loss(real, fake, c, sigma)
                self.manual_backward(micro_batch_objective(loss, micro_batch_size=len(caps)))
                total += loss.detach()
        finish_gradients(d_opt.param_groups[0]["params"], num_micro_batches=len(chunks))
        d_opt.step()
        d_opt.zero_grad(set_to_none=True)
        return total

    def _generator_step(
        self, chunks: MicroBatches, conditions: list[torch.Tensor], sigma: float, rng: torch.Generator,
        fakes: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Non-saturating loss (+ CLIP guidance) accumulated over micro-batches, then one G update.
        D stays in training mode; in the text-encoder phase the conditioning itself is trained."""
        g_opt = self.optimizers()[1]
        adv_total, clip_total = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for i, ((_, caps), c_d) in enumerate(zip(chunks, conditions)):
            with g_opt.toggle_model(sync_grad=i == len(chunks) - 1):
                if fakes is not None:
                    fake = fakes[i]
                else:  # D sees c_d either way
                    fake = self.generator(self._latents(len(caps), rng), self._generator_condition(caps, c_d))
                adv, clip = self.generator_loss(fake, c_d, caps, sigma)
                self.manual_backward(micro_batch_objective(adv, micro_batch_size=len(caps), clip=clip,
                                                                clip_weight=self.recipe.loss.clip_weight))
                adv_total += adv.detach()
                clip_total += clip.detach()
        finish_gradients(g_opt.param_groups[0]["params"], num_micro_batches=len(chunks))
        g_opt.step()
        g_opt.zero_grad(set_to_none=True)
        return adv_total, clip_total

    def _update_ema(self, step_images: int) -> float:
        """EMA of G after the G step; the half-life defaults to ``batch_size * 10 / 32`` kimg."""
        o = self.recipe.optim
        ema_kimg = o.ema_kimg if o.ema_kimg is not None else default_ema_kimg(o.batch_size)
        beta = ema_beta(batch_size=step_images, nimg=self.images_seen, ema_kimg=ema_kimg, rampup=o.ema_rampup)
        self.generator_ema.update(self.generator, beta=beta)
        return beta

    def _log_step(self, values: dict[str, Any], *, batch_size: int) -> None:
        """Losses and schedule values of this step, and the data side's skip / drop counts (this rank)."""
        main = {k: values.pop(k) for k in ("loss_D", "loss_G")}
        self.log_dict({**main, "kimg": self.kimg()}, prog_bar=True, on_step=True, batch_size=batch_size, sync_dist=False)
        counts = self.data_counts()
        values.update(data_skipped=float(counts.skipped), data_dropped=float(counts.dropped),
                      data_shard_errors=float(counts.shard_errors))
        self.log_dict(values, on_step=True, batch_size=batch_size)

    # --- checkpoints --------------------------------------------------------------------------------

    # Frozen pretrained networks are stored by reference (spec + sha256 of their tensors), not by value: the
    # checkpoint holds what was trained (FrozenByReference: state_dict leaves them out, load_state_dict fills them).

    def frozen_networks(self) -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
        """``{state-dict prefix: (module, spec)}`` of the frozen networks rebuilt from the recipe, not stored."""
        return frozen_training_networks(self)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        tower = PARTS.of("generator", "text_encoder") + "."
        if self.generator.text_encoder is not None and any(k.startswith(tower) for k in state_dict):
            self.keep_tower_by_value()  # the checkpoint stores the towers' own weights (G's and the EMA's)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = CheckpointMeta(class_path(type(self)), images_seen=self.images_seen, frozen=self.frozen_references())
        write_checkpoint_meta(checkpoint, meta, frozen_prefixes=list(self.frozen_networks()))

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> "StyleGANT":
        """Lightning's classmethod, with the file checked first (weights only): a file that is not a stylegan_t
        training checkpoint with its recipe raises one :class:`CheckpointError` naming what it is."""
        if isinstance(checkpoint_path, (str, os.PathLike)):
            check_module_checkpoint(checkpoint_path)
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # skip / drop counts are restored by the datamodule
        self.images_seen = restore_checkpoint_meta(checkpoint, self.frozen_references(), source="training checkpoint").images_seen
