"""These tests need numba's CUDA simulator, which must be on before numba is imported: they run
only in a session started with ``NUMBA_ENABLE_CUDASIM=1`` (``tests/test_cuda_simulator.py``)."""

import os

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
    collect_ignore_glob = ["test_*.py"]
