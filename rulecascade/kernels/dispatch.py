"""Device selection for the rule kernels: ``"cpu"``, ``"cuda"`` or ``"auto"``.

``auto`` picks the GPU when ``numba.cuda`` sees one (checked once, lazily, so importing the package
never touches CUDA) and the batch is large enough to pay for the transfers; otherwise the CPU.
numba's CUDA *simulator* (``NUMBA_ENABLE_CUDASIM=1``) is a debugging aid: ``auto`` never picks it,
``device="cuda"`` does.
"""

from __future__ import annotations

import os
import threading

DEVICES = ("auto", "cpu", "cuda")
AUTO_CUDA_MIN_ROWS = 100_000

_lock = threading.Lock()
_cuda_ok: bool | None = None


class DeviceError(RuntimeError):
    """The requested device cannot be used."""


def cuda_simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def cuda_available() -> bool:
    """Whether numba.cuda can run kernels here (a GPU, or the simulator when enabled)."""
    global _cuda_ok
    with _lock:
        if _cuda_ok is None:
            try:
                from numba import cuda

                _cuda_ok = bool(cuda.is_available())
            except Exception:  # noqa: BLE001 - any import/driver failure means "no GPU"
                _cuda_ok = False
        return _cuda_ok


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}, got {device!r}")
    return device


def select_device(device: str = "auto", n_rows: int | None = None) -> str:
    """The device (``"cpu"`` or ``"cuda"``) that evaluates a batch of ``n_rows`` rows."""
    check_device(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        if not cuda_available():
            raise DeviceError(
                "device='cuda' was requested but numba.cuda finds no usable GPU "
                "(driver, toolkit or device missing); use device='cpu' or 'auto'"
            )
        return "cuda"
    if cuda_simulated() or (n_rows is not None and n_rows < AUTO_CUDA_MIN_ROWS):
        return "cpu"
    return "cuda" if cuda_available() else "cpu"


def twin(kernel, device: str):
    """``kernel`` itself on ``"cpu"``; on ``"cuda"`` its numba.cuda twin of the same name and
    contract (:mod:`.boxes_cuda`, imported only then)."""
    if device == "cpu":
        return kernel
    from . import boxes_cuda

    return getattr(boxes_cuda, getattr(kernel, "py_func", kernel).__name__)
