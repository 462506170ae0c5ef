"""Device selection for the rule kernels: ``"cpu"``, ``"cuda"`` or ``"auto"``.

``auto`` picks the GPU when ``numba.cuda`` sees one (checked once, lazily, so importing the package
never touches CUDA) and the batch is large enough to pay for the transfers; otherwise the CPU.
numba's CUDA *simulator* (``NUMBA_ENABLE_CUDASIM=1``) is a debugging aid: ``auto`` never picks it,
``device="cuda"`` does.
"""

from __future__ import annotations

import os
import threading
import warnings

from .jit import compiled_for

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


#: ``twin``'s device for a GPU that ``"auto"`` chose: a call the GPU fails falls back to the CPU
AUTO_CUDA = "auto-cuda"


class GPUFallbackWarning(RuntimeWarning):
    """A GPU call failed (e.g. out of device memory) and its CPU twin gave the answer."""


def twin(kernel, device: str):
    """``kernel`` itself on ``"cpu"``; on ``"cuda"`` its numba.cuda twin of the same contract,
    as registered in :data:`.twins.TWINS` (imported only then). On :data:`AUTO_CUDA` the twin, and when
    it fails with a CUDA error (out of device memory, a driver or compiler error) the CPU
    kernel gives the answer, with a :class:`GPUFallbackWarning`: the results are the same, so
    ``device="auto"`` never fails a fit that the CPU can do."""
    if device == "cpu":
        return kernel
    if device not in ("cuda", AUTO_CUDA):
        raise ValueError(f"kernel device must be 'cpu', 'cuda' or {AUTO_CUDA!r}, got {device!r}")
    from .twins import TWINS

    gpu = TWINS.get(kernel)
    if gpu is None:
        raise ValueError(f"{getattr(kernel, '__name__', kernel)!r} has no CUDA twin")
    if device != AUTO_CUDA:
        return gpu

    def run(*args):
        try:
            return gpu(*args)
        except Exception as e:  # noqa: BLE001 - only numba.cuda's errors, re-raised otherwise
            if not type(e).__module__.startswith("numba.cuda"):
                raise
            warnings.warn(
                f"{gpu.__name__} on the GPU failed ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); the CPU kernel "
                "answered instead (same result)",
                GPUFallbackWarning,
                stacklevel=2,
            )
            return kernel(*args)

    return run


#: below this many rows the single-threaded kernel is faster than waking the thread pool
PARALLEL_MIN_ROWS = 20_000
# one parallel kernel at a time; concurrent callers run the serial (GIL-free) kernel instead, so
# the result never depends on numba's threading layer being re-entrant
_parallel_lock = threading.Lock()


def run_parallel(par, ser, n: int, *args, generic: tuple[int, ...] = ()):
    """``par(*args)`` (a ``parallel=True`` kernel) for ``n`` rows or more when no other thread
    runs one, else its serial twin ``ser(*args)``; both give the same result. ``generic``:
    positions of array arguments compiled for any memory layout (see ``jit.compiled_for``)."""
    if n >= PARALLEL_MIN_ROWS and _parallel_lock.acquire(blocking=False):
        try:
            return (compiled_for(par, args, generic) if generic else par)(*args)
        finally:
            _parallel_lock.release()
    return (compiled_for(ser, args, generic) if generic else ser)(*args)
