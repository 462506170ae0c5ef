"""Progress bars for long work (tqdm, on stderr).

A bar appears only when the work has run for more than a second, only when stderr is a terminal,
and never with ``quiet=True`` (the CLI's ``--quiet``); tqdm's own ``TQDM_DISABLE=1`` also turns
them off. Output on stdout is never touched, so piping a command's result stays clean.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

DELAY_S = 1.0
TICK_S = 0.25


def enabled(quiet: bool = False) -> bool:
    """Whether bars are shown: not quiet and stderr is an interactive terminal."""
    if quiet:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


class Task:
    """One unit of work: a bar when ``total`` is known, an elapsed-time ticker otherwise."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "it", quiet: bool = False):
        self.desc = desc
        self.total = total
        self._disabled = not enabled(quiet)
        self._bar: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self._disabled:
            return
        fmt = None if total is not None else "{desc}: {elapsed}"
        self._bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            unit_scale=total is not None and unit == "rows",
            delay=DELAY_S,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format=fmt,
        )
        self._start = time.monotonic()
        # a ticker keeps the elapsed time moving while the work makes no update() calls
        self._thread = threading.Thread(target=self._tick, name="rulecascade-progress", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            if time.monotonic() - self._start >= DELAY_S:
                self._bar.refresh()

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set_description(self, desc: str) -> None:
        self.desc = desc
        if self._bar is not None:
            self._bar.set_description_str(desc, refresh=False)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def task(
    desc: str, total: int | None = None, unit: str = "it", quiet: bool = False
) -> Iterator[Task]:
    """``with task("fitting rules") as t: ...``; call ``t.update(n)`` when ``total`` is given."""
    t = Task(desc, total=total, unit=unit, quiet=quiet)
    try:
        yield t
    finally:
        t.close()


def chunks(
    n_rows: int, chunk_rows: int, desc: str, unit: str = "rows", quiet: bool = False
) -> Iterator[slice]:
    """Row slices of at most ``chunk_rows``, with a bar over the rows done."""
    chunk_rows = max(1, int(chunk_rows))
    with task(desc, total=n_rows, unit=unit, quiet=quiet) as t:
        for start in range(0, n_rows, chunk_rows):
            stop = min(n_rows, start + chunk_rows)
            yield slice(start, stop)
            t.update(stop - start)
