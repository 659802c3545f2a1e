"""A CSV logger whose ``metrics.csv`` survives a resumed run.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts in a non-empty folder, so a
run resumed after a kill loses every row written before it. This one appends: the old rows stay (rows
the killed run wrote after its last checkpoint stay too, followed by the re-run steps), and a new
column rewrites the header with the old rows kept.
"""
from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class AppendingExperimentWriter(ExperimentWriter):
    """Keeps an existing ``metrics.csv`` (and its columns) instead of deleting it."""

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as f:
            header = next(csv.reader(f), [])
        self.metrics_keys = list(header)  # the file's column order: appended rows must match it


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that appends to the run's ``metrics.csv`` (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


__all__ = ["AppendingExperimentWriter", "ResumableCSVLogger"]
