"""Command-line interface: ``stylegan-t <command>``."""
