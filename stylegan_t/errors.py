"""The user-facing error family: anything a user can fix (a recipe, a file, an argument).

The ``stylegan-t`` command prints such an error as one line on stderr and exits with status 2; any
other exception is a bug and keeps its traceback. Library users catch :class:`UserError`.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input that a one-line message explains (no traceback needed).

    ``details``: optional lines of how-to that the command line prints after the one-line message.
    """

    def __init__(self, *args: object, details: list[str] | None = None) -> None:
        super().__init__(*args)
        self.details = list(details or [])


class RecipeError(UserError, ValueError):
    """A recipe file or override is invalid: the message names the key and what is valid."""


class MissingWeightsError(UserError, FileNotFoundError):
    """A pretrained weights file that must come from local disk is not there (or is not what was expected)."""


class CheckpointError(UserError, ValueError):
    """A checkpoint, export or snapshot is missing, truncated, foreign or does not fit the model."""


class WeightsFileError(MissingWeightsError, ValueError):
    """A pretrained weights file is there but is no plain state dict, is damaged, or does not fit the architecture."""
