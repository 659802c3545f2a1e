"""Small shared utilities (local weight files)."""
