"""Numbers shared across the package, each defined once.

Image normalisation of the pretrained networks StyleGAN-T (arXiv 2301.09515) builds on: the CLIP models
(text conditioning, CLIP guidance of Sec. 3.3, CLIP score) and the ImageNet-trained DINO ViT of the
discriminator (Sec. 3.2). Both are the published constants of those models.
"""
from __future__ import annotations

#: per-channel RGB mean / std of OpenAI CLIP's image preprocessing (inputs in [0, 1])
CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

#: per-channel RGB mean / std of ImageNet (DINO and other timm backbones; inputs in [0, 1])
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
