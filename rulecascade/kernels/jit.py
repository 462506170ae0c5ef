"""``njit`` for the package's kernels, with numba's on-disk cache in a per-user folder.

numba writes the machine code of ``cache=True`` functions next to their source by default: in an
installed package that is ``site-packages/rulecascade/kernels/__pycache__``, which pip does not
remove on uninstall, and the leftover folder then shadows a later (editable) install as a
namespace package. The kernels here are cached in :func:`cache_dir` instead, keyed by the full
path of their source file (numba's own layout), so two checkouts never share entries.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba import types
from numba.core import config

__all__ = ["cache_dir", "compiled_for", "is_cached", "njit"]

_lock = threading.Lock()
_announced = False


def cache_dir() -> str:
    """Where compiled kernels are cached: ``$RULECASCADE_CACHE_DIR``, else ``$NUMBA_CACHE_DIR``
    (numba's own setting), else ``$XDG_CACHE_HOME/rulecascade/numba`` (``~/.cache/...``); a
    folder in the temporary directory where that cannot be written."""
    for var in ("RULECASCADE_CACHE_DIR", "NUMBA_CACHE_DIR"):
        if os.environ.get(var):
            return os.environ[var]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "rulecascade" / "numba"
    if _writable(path):
        return str(path)
    return str(Path(tempfile.gettempdir()) / f"rulecascade-numba-{_user()}")


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def _user() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid is not None else os.environ.get("USERNAME", "user")


def njit(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``numba.njit`` (same options); with ``cache=True`` the cache lives in :func:`cache_dir`."""
    if fn is None:
        return lambda f: njit(f, **options)
    if not options.get("cache"):
        return numba.njit(**options)(fn)
    with _lock:  # numba picks the cache folder when the function is decorated
        saved = config.CACHE_DIR
        config.CACHE_DIR = cache_dir()
        try:
            return numba.njit(**options)(fn)
        finally:
            config.CACHE_DIR = saved


def generic_signature(args: tuple[Any, ...], generic: tuple[int, ...]) -> tuple[Any, ...]:
    """numba types of ``args``, with the arrays at positions ``generic`` of any layout ('A')."""
    sig = []
    for k, a in enumerate(args):
        t = numba.typeof(a)
        if k in generic and isinstance(t, types.Array):
            t = types.Array(t.dtype, t.ndim, "A", readonly=not t.mutable)
        sig.append(t)
    return tuple(sig)


def compiled_for(
    kernel: Any, args: tuple[Any, ...], generic: tuple[int, ...] = (0,), announce: bool = True
) -> Any:
    """``kernel`` compiled (or loaded from the cache) for the types of ``args``, where the
    arrays at positions ``generic`` may have any memory layout: one machine code for C-ordered,
    Fortran-ordered and strided matrices of a dtype, instead of one compilation per layout.
    Further specializations are disabled, so a call with other layouts reuses it. With
    ``announce``, the first compilation of a process whose cache is empty says so once (a
    warning on the ``rulecascade`` logger, naming ``rulecascade.warmup``)."""
    global _announced
    sig = generic_signature(args, generic)
    if sig in kernel.overloads:
        return kernel
    with _lock:
        if sig not in kernel.overloads:
            if announce and not _announced and not is_cached(kernel):
                _announced = True
                logging.getLogger("rulecascade").warning(
                    "rulecascade: compiling the rule kernels on first use (tens of seconds; "
                    "cached in %s afterwards); call rulecascade.warmup() at start-up or run "
                    "`rulecascade warmup` once after install to do it ahead of time",
                    cache_dir(),
                )
            kernel.disable_compile(False)
            try:
                kernel.compile(sig)
            finally:
                kernel.disable_compile(True)
    return kernel


def is_cached(kernel: Any) -> bool:
    """Whether numba's on-disk cache (in :func:`cache_dir`) holds an index for ``kernel``."""
    fn = kernel.py_func
    stem = f"{fn.__module__.rpartition('.')[2]}.{fn.__qualname__}-"
    root = Path(cache_dir())
    return root.is_dir() and any(root.rglob(f"{stem}*.nbi"))
