"""Losses: adversarial (hinge / non-saturating), D-input blur, CLIP guidance."""
from .adversarial import d_hinge_loss, g_nonsaturating_loss
from .blur import blur_images, blur_kernel, blur_sigma

__all__ = ["d_hinge_loss", "g_nonsaturating_loss", "blur_images", "blur_kernel", "blur_sigma"]
