"""Progress output that suits where it goes: a tqdm bar on a terminal, a plain line now and then in a log file.

A bar redraws itself with carriage returns many times a second; written to a file (``stylegan-t fit > log``,
a batch job) those frames pile up into megabytes of one unreadable line. When the stream is not a terminal,
:func:`progress` returns :class:`PlainProgress` instead: the same calls (``update``, ``set_postfix``,
``close``, ``with``), printing one line every :data:`EVERY_SECONDS` seconds or :data:`EVERY_PERCENT` percent,
whichever comes later, and one at the end.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: a plain progress line at most this often (seconds) ...
EVERY_SECONDS = 30.0
#: ... and, when the total is known, only after this much more of it is done (percent)
EVERY_PERCENT = 10.0


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (a closed or fake stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class PlainProgress:
    """tqdm's interface as used in this library, as plain lines: ``desc: n/total unit (p%), elapsed, rate, postfix``."""

    def __init__(self, total: int | None = None, *, desc: str = "", unit: str = "it", disable: bool = False,
                 file: TextIO | None = None, every_seconds: float = EVERY_SECONDS,
                 every_percent: float = EVERY_PERCENT) -> None:
        self.total, self.desc, self.unit, self.disable = total, desc, unit, disable
        self.file = file
        self.every_seconds, self.every_percent = every_seconds, every_percent
        self.n = 0
        self.postfix = ""
        self.start = self._last_time = time.monotonic()
        self._last_n = 0
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable:
            return
        now = time.monotonic()
        enough = (self.total is None or not self.total
                  or (self.n - self._last_n) * 100.0 / self.total >= self.every_percent)
        if now - self._last_time >= self.every_seconds and enough and (self.total is None or self.n < self.total):
            self._print(now)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.start
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" ({100.0 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f", {self.n / elapsed:.2f} {self.unit}/s" if elapsed > 0 else ""
        tail = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc + ': ' if self.desc else ''}{done} {self.unit}{pct}, {elapsed:.0f}s{rate}{tail}"

    def _print(self, now: float) -> None:
        print(self.line(now), file=self.file or sys.stderr, flush=True)
        self._last_time, self._last_n = now, self.n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.disable and self.n != self._last_n:
            self._print(time.monotonic())

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: int | None = None, *, desc: str = "", unit: str = "it", disable: bool = False,
             file: TextIO | None = None) -> Any:
    """A tqdm bar when ``file`` (default stderr) is a terminal, else :class:`PlainProgress` with the same calls."""
    stream = file or sys.stderr
    if disable or not is_terminal(stream):
        return PlainProgress(total, desc=desc, unit=unit, disable=disable, file=file)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=file)
