"""``StyleGANT``: the LightningModule that trains G and D with manual optimization (SPEC: "Losses and schedule").

One ``training_step`` is one iteration: a D step, then a G step, each accumulating gradients over the
per-rank batch split into micro-batches. Progress is counted in images seen (all ranks), not in
Lightning's ``global_step`` (which counts both optimizers' steps).
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch

from ..losses import d_hinge_loss, d_mismatch_loss, g_nonsaturating_loss, mismatched_conditions
from ..losses.blur import blur_images, blur_sigma
from ..models.discriminator import ProjectedDiscriminator
from ..models.generator import Generator
from .ema import GeneratorEMA, ema_beta
from .init_from import load_init_weights
from .recipe import Recipe, load_recipe, recipe_to_dict

CHECKPOINT_KIND = "stylegan_t.training.StyleGANT"


class StyleGANT(L.LightningModule):
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
        self.generator_ema = GeneratorEMA(self.generator)
        self.images_seen = 0
        self.samples_skipped = 0  # corrupt samples skipped by the data pipeline (this rank)
        self.samples_dropped = 0  # samples without caption (this rank)
        if recipe.model.init_from:
            load_init_weights(self, recipe.model.init_from)
        # Decide the trainable set before fit: DDP registers only parameters that require grad then.
        self.generator.set_train_mode(recipe.model.train_mode)

    # --- construction (override points) ------------------------------------------------------------

    def build_generator(self) -> Generator:
        return Generator(self.recipe.model.generator)

    def build_discriminator(self) -> torch.nn.Module:
        return ProjectedDiscriminator(c_dim=self.generator.c_dim, config=self.recipe.model.discriminator)

    def build_clip_guidance(self) -> torch.nn.Module | None:
        loss = self.recipe.loss
        if loss.clip_weight <= 0:
            return None
        from ..losses.clip_guidance import CLIPGuidance

        return CLIPGuidance(loss.clip_model, loss.clip_pretrained)

    # --- scaling ------------------------------------------------------------------------------------

    def configure_model(self) -> None:
        """Activation checkpointing (optional), FSDP2 sharding under ModelParallelStrategy, bf16 frozen networks
        under ``bf16-mixed`` and ``run.compile``.

        Shards the synthesis blocks, the mapping MLP and the discriminator heads of G, its EMA copy and D
        over the data-parallel mesh; frozen networks (text encoder, feature network, CLIP) stay unsharded.
        ``reshard_after_forward=True`` is required with two optimizers (SCALING-NOTES).
        """
        if getattr(self, "_configured", False):
            return
        self._configured = True
        if self.recipe.run.activation_checkpointing:
            from torch.distributed._composable import checkpoint

            for block in self.generator.synthesis.blocks():
                checkpoint(block)
        if self.device_mesh is not None:
            from torch.distributed.fsdp import fully_shard

            mesh = self.device_mesh["data_parallel"]
            for generator in (self.generator, self.generator_ema.module):
                for block in generator.synthesis.blocks():
                    fully_shard(block, mesh=mesh, reshard_after_forward=True)
                fully_shard(generator.synthesis, mesh=mesh, reshard_after_forward=True)
                fully_shard(generator.mapping.mlp, mesh=mesh, reshard_after_forward=True)
            for head in self.discriminator_trainable_modules():
                fully_shard(head, mesh=mesh, reshard_after_forward=True)
        if self._trainer is not None and str(self.trainer.precision) == "bf16-mixed":
            self.cast_frozen_networks(torch.bfloat16)
        if self.recipe.run.compile:
            self.compile_networks()

    def frozen_networks(self) -> list[torch.nn.Module]:
        """Frozen networks safe to hold in bf16 under bf16-mixed: D's feature network and the guidance CLIP.

        The text encoder stays float32: its weights are part of the generator's checkpoint and export, which
        casting would round; under autocast its matmuls run in bf16 anyway.
        """
        nets = [self.discriminator.feature_network]
        if self.clip_guidance is not None:
            nets.append(self.clip_guidance)
        return [net for net in nets if not any(p.requires_grad for p in net.parameters())]

    def cast_frozen_networks(self, dtype: torch.dtype) -> None:
        """Hold the frozen networks' floating-point weights in ``dtype`` (half the memory and no per-step casts)."""
        for net in self.frozen_networks():
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

    # --- batch arithmetic ---------------------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return self.trainer.world_size if self._trainer is not None else 1

    def per_rank_batch_size(self, world_size: int | None = None) -> int:
        """Images per rank per iteration so that the recipe's global batch holds for any device count."""
        world = world_size or self.world_size
        batch = self.recipe.optim.batch_size
        if batch % (world * self.recipe.optim.micro_batch_size):
            raise ValueError(
                f"optim.batch_size={batch} is not a multiple of devices ({world}) x "
                f"optim.micro_batch_size ({self.recipe.optim.micro_batch_size})"
            )
        return batch // world

    def kimg(self) -> float:
        return self.images_seen / 1000

    # --- optimization -------------------------------------------------------------------------------

    def configure_optimizers(self):
        o = self.recipe.optim
        betas = tuple(o.betas)
        g_params = [p for p in self.generator.parameters() if p.requires_grad]
        d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        g_opt = torch.optim.Adam(g_params, lr=o.g_lr, betas=betas, eps=o.eps)
        d_opt = torch.optim.Adam(d_params, lr=o.d_lr, betas=betas, eps=o.eps)
        return [d_opt, g_opt]

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor, sigma: float) -> torch.Tensor:
        """Hinge loss; real and fake in separate forward passes (separate local batch-norm statistics), plus
        the optional matching-aware term (``loss.mismatch_weight``: real images under another caption)."""
        logits_fake = self.discriminator(blur_images(fake, sigma), c)
        real = blur_images(real, sigma)
        loss = d_hinge_loss(self.discriminator(real, c), logits_fake)
        if self.recipe.loss.mismatch_weight > 0:
            wrong, keep = mismatched_conditions(c)
            loss = loss + self.recipe.loss.mismatch_weight * d_mismatch_loss(self.discriminator(real, wrong), keep)
        return loss

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

    def _finish_gradients(self, params: list[torch.nn.Parameter], num_micro: int) -> None:
        """SPEC: gradients summed over micro-batches (ranks averaged by DDP), times the count, NaN/inf -> +-1e5."""
        for p in params:
            if p.grad is not None:
                p.grad.mul_(num_micro).nan_to_num_(nan=0.0, posinf=1e5, neginf=-1e5)

    def _seed_step(self) -> None:
        """Reseed from (seed, images seen, rank): a resumed run draws the same latents and augmentations."""
        seed = self.recipe.run.seed * 1_000_003 + self.images_seen * 7 + self.global_rank
        torch.manual_seed(seed % (2**63))

    def on_train_epoch_start(self) -> None:
        # The data pipeline reshuffles by epoch; tell it before its workers start.
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(self.current_epoch)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._seed_step()
        images, captions = batch["image"], list(batch["caption"])
        self.samples_skipped += int(batch.get("num_skipped", 0))
        self.samples_dropped += int(batch.get("num_dropped", 0))
        d_opt, g_opt = self.optimizers()
        sigma = blur_sigma(self.images_seen, sigma0=self.recipe.loss.blur_sigma, fade_kimg=self.recipe.loss.blur_fade_kimg)
        chunks = list(self._micro_batches(images, captions))
        train_text = self.recipe.model.train_mode == "text_encoder"

        # D step: hinge loss on blurred real and fake, accumulated over micro-batches.
        d_total = 0.0
        for i, (real, caps) in enumerate(chunks):
            with d_opt.toggle_model(sync_grad=i == len(chunks) - 1):
                with torch.no_grad():
                    c = self.generator.mapping.encode_text(caps)
                    fake = self.generator(torch.randn(len(caps), self.generator.z_dim, device=self.device), c)
                loss = self.discriminator_loss(real, fake, c, sigma)
                self.manual_backward(loss / len(caps))  # SPEC: adversarial terms / micro-batch size
                d_total += loss.detach()
        self._finish_gradients(d_opt.param_groups[0]["params"], len(chunks))
        d_opt.step()
        d_opt.zero_grad(set_to_none=True)

        # G step: non-saturating loss (+ CLIP guidance), D stays in training mode.
        g_total, clip_total = 0.0, 0.0
        for i, (_, caps) in enumerate(chunks):
            with g_opt.toggle_model(sync_grad=i == len(chunks) - 1):
                c = self.generator.mapping.encode_text(caps) if train_text else None
                with torch.no_grad():
                    c_d = c.detach() if c is not None else self.generator.mapping.encode_text(caps)
                z = torch.randn(len(caps), self.generator.z_dim, device=self.device)
                fake = self.generator(z, c if c is not None else c_d)
                adv, clip = self.generator_loss(fake, c_d, caps, sigma)
                self.manual_backward(adv / len(caps) + self.recipe.loss.clip_weight * clip)
                g_total += adv.detach()
                clip_total += clip.detach()
        self._finish_gradients(g_opt.param_groups[0]["params"], len(chunks))
        g_opt.step()
        g_opt.zero_grad(set_to_none=True)

        # Progress in images over all ranks, then the EMA of G (SPEC: half-life in images).
        step_images = images.shape[0] * self.world_size
        self.images_seen += step_images
        o = self.recipe.optim
        ema_kimg = o.ema_kimg if o.ema_kimg is not None else o.batch_size * 10 / 32
        beta = ema_beta(batch_size=step_images, nimg=self.images_seen, ema_kimg=ema_kimg, rampup=o.ema_rampup)
        self.generator_ema.update(self.generator, beta=beta)

        n = len(chunks)
        self.log_dict(
            {"loss_D": d_total / n, "loss_G": g_total / n, "kimg": self.kimg()},
            prog_bar=True, on_step=True, batch_size=images.shape[0], sync_dist=False,
        )
        self.log_dict(
            {
                "loss_clip": clip_total / n,
                "blur_sigma": float(sigma),
                "ema_beta": beta,
                "data_skipped": float(self.samples_skipped),
                "data_dropped": float(self.samples_dropped),
            },
            on_step=True,
            batch_size=images.shape[0],
        )

    # --- checkpoints --------------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["stylegan_t"] = {
            "kind": CHECKPOINT_KIND,
            "images_seen": self.images_seen,
            "samples_skipped": self.samples_skipped,
            "samples_dropped": self.samples_dropped,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("stylegan_t")
        if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
            raise ValueError("not a stylegan_t training checkpoint (no 'stylegan_t' entry of kind StyleGANT)")
        self.images_seen = int(meta["images_seen"])
        self.samples_skipped = int(meta.get("samples_skipped", 0))
        self.samples_dropped = int(meta.get("samples_dropped", 0))

    @torch.no_grad()
    def sample(self, prompts: list[str], seeds: list[int], *, truncation_psi: float = 1.0, ema: bool = True) -> torch.Tensor:
        """Images [len(prompts) * len(seeds), C, R, R] for every (prompt, seed), prompt-major, from the EMA generator."""
        G = self.generator_ema.module if ema else self.generator
        zs = torch.stack([torch.randn(G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds]).to(self.device)
        out = []
        for prompt in prompts:
            out.append(G(zs, [prompt] * len(seeds), truncation_psi=truncation_psi, noise_mode="const"))
        return torch.cat(out)
