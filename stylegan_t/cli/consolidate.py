"""``stylegan-t consolidate CKPT_DIR OUT.ckpt``: one ordinary checkpoint file from a sharded (FSDP) folder.

Every reader takes the folder directly; the file is for moving or archiving one artifact. It holds the full
model weights and the run's metadata, not the optimizer states: resume a sharded run from its folder.
"""
from __future__ import annotations

import argparse

#: Lightning's keys that describe the run (kept); loop and callback states only make sense with the optimizers
_KEPT = ("epoch", "global_step", "pytorch-lightning_version", "hparams_name", "hyper_parameters")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ckpt", help="a sharded checkpoint folder written by `stylegan-t fit` with trainer.strategy=fsdp")
    parser.add_argument("out", help="the .ckpt file to write (model weights and metadata, no optimizer states)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import UserError
    from ..persistence import read_training_checkpoint
    from ..persistence.formats import CHECKPOINT_META, STATE_DICT
    from ..persistence.sharded import is_sharded_checkpoint
    from ..training.checkpoint_io import atomic_torch_save
    from ..utils.files import check_writable_file

    source, out = Path(args.ckpt), Path(args.out)
    if not is_sharded_checkpoint(source):
        what = "does not exist" if not source.exists() else "is not a sharded checkpoint folder (.metadata + meta.pt)"
        raise UserError(f"'{source}' {what}; an ordinary .ckpt file needs no consolidation")
    check_writable_file(out, option="output")
    ckpt = read_training_checkpoint(source)
    consolidated = {k: ckpt[k] for k in _KEPT if k in ckpt}
    consolidated[STATE_DICT] = ckpt[STATE_DICT]
    consolidated[CHECKPOINT_META] = ckpt[CHECKPOINT_META]
    atomic_torch_save(consolidated, out)
    size = sum(t.numel() * t.element_size() for t in ckpt[STATE_DICT].values())
    print(f"wrote {out}: {len(ckpt[STATE_DICT])} tensors, {size / 2**20:.1f} MiB, "
          f"{ckpt[CHECKPOINT_META].get('images_seen', 0) / 1000:g} kimg (no optimizer states: resume from '{source}')")
    return 0
