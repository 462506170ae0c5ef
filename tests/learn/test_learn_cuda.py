"""The learner's CUDA twins give the CPU kernels' results (numba's CUDA simulator), a fit on
``device="cuda"`` writes the same rule file as on the CPU, and every CUDA kernel compiles to PTX
for real GPUs (libNVVM from the ``nvidia-cuda-nvcc-cu12`` wheel; no GPU needed).

The twins' simulator tests are in ``tests/cuda_sim`` (their own session); here the PTX build, the
fallback from a failing GPU call and the GPU-fit benchmark's simulator run.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, env_extra: dict[str, str], timeout: int = 600) -> str:
    env = {**os.environ, **env_extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_cuda_fit_without_gpu_is_a_clear_error(monkeypatch):
    from rulecascade import RuleLearner
    from rulecascade.kernels import dispatch

    monkeypatch.setattr(dispatch, "cuda_available", lambda: False)
    X = np.arange(400.0).reshape(200, 2)
    y = np.repeat([0, 1], 100)
    with pytest.raises(dispatch.DeviceError, match="no usable GPU"):
        RuleLearner(device="cuda").fit(X, y)
    with pytest.raises(ValueError, match="device"):
        RuleLearner(device="gpu").fit(X, y)
    # "auto" without a GPU fits on the CPU, and the device is not part of the rule file
    m = RuleLearner(device="auto", max_error=0.2, random_state=0).fit(X, y)
    assert m.report_["device"] == "cpu"
    assert "device" not in m.rules_.fit_params


def _nvcc_home() -> str | None:
    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvcc")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    home = Path(list(spec.submodule_search_locations)[0])
    return str(home) if list(home.glob("nvvm/lib64/libnvvm.so*")) else None


PTX = """
    import types
    import numba.cuda.dispatcher as _dispatcher
    from numba import cuda, types as t

    from rulecascade.kernels import boxes_cuda, cuda_histogram, match_cuda

    A = t.Array
    u8F, u8C, u8 = A(t.uint8, 2, "F"), A(t.uint8, 2, "C"), A(t.uint8, 1, "C")
    i64, i32, i64C = A(t.int64, 1, "C"), A(t.int32, 1, "C"), A(t.int64, 2, "C")
    f64, f64F, f64C = A(t.float64, 1, "C"), A(t.float64, 2, "F"), A(t.float64, 2, "C")
    sigs = {
        "counts": (u8F, i32, i64, i64, i64, u8C, t.int64, i64C),
        "margins": (u8F, i32, i64, i64, i64, u8C, t.int64, A(t.int64, 4, "C"), i64C),
        "bitsets": (u8F, i64, i64, i64, u8C, A(t.uint64, 2, "C")),
        "binning": (f64F, u8, f64C, i64, u8C, i64, u8F),
    }
    for cc in ((7, 5), (8, 0), (9, 0)):  # T4, A100, H100
        # device functions ask the current device for its compute capability: there is none
        _dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
        boxes_cuda.bind_device_functions()
        for name, fn in boxes_cuda.KERNELS.items():
            ptx, _ = cuda.compile_ptx(fn, sigs[name], cc=cc)
            assert ".entry" in ptx, name
        # the runtime's rule kernel (float64 and float32 inputs) and the histogram twin
        row_kernel = match_cuda._get_kernel().py_func
        for M in (f64F, A(t.float32, 2, "F")):
            ptx, _ = cuda.compile_ptx(row_kernel, (M, i64, i64, i64, f64, f64, i64, i64, f64, i64), cc=cc)
            assert ".entry" in ptx
        hist = cuda_histogram._get_kernel().py_func
        ptx, _ = cuda.compile_ptx(hist, (u8C, i32, i64, i64, A(t.int64, 3, "C")), cc=cc)
        assert ".entry" in ptx
        print("compiled", cc)
    print("ptx ok")
"""


@pytest.mark.skipif(_nvcc_home() is None, reason="libNVVM (pip nvidia-cuda-nvcc-cu12) missing")
def test_cuda_kernels_compile_to_ptx_for_real_gpus():
    out = _run(PTX, {"CUDA_HOME": _nvcc_home() or "", "NUMBA_ENABLE_CUDASIM": "0"})
    assert "ptx ok" in out


def test_gpu_fit_benchmark_runs_in_simulator(tmp_path):
    """The GPU benchmark script itself (a GPU session runs it for the README)."""
    out = tmp_path / "gpu_fit.md"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "gpu_fit.py"),
        "--rows=1500",
        "--features=4",
        "--warm-rows=300",
        "--max-error=0.05",
        f"--out={out}",
    ]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()
    assert "numba CUDA simulator" in text and "byte-identical" in text
    assert "| validate |" in text and "| whole fit |" in text


def test_auto_falls_back_to_the_cpu_when_a_gpu_call_fails(monkeypatch):
    """device="auto" never fails a fit the CPU can do: a CUDA error (here out of device
    memory) in any twin gives the CPU kernel's answer, with a warning; device="cuda" raises."""
    from numba.cuda.cudadrv.driver import CudaAPIError

    from rulecascade import RuleLearner, datasets
    from rulecascade.kernels import boxes, dispatch, twins

    calls = []

    def oom(*args):
        calls.append(len(args))
        raise CudaAPIError(2, "Call to cuMemAlloc results in CUDA_ERROR_OUT_OF_MEMORY")

    for cpu in list(twins.TWINS):  # the registry dispatch.twin reads
        monkeypatch.setitem(twins.TWINS, cpu, oom)
    codes = np.zeros((4, 1), np.uint8, order="F")
    masks = np.full((1, 1, 4), np.uint64(0xFFFFFFFFFFFFFFFF))
    out = np.zeros((1, 2), np.int64)
    args = (codes, np.array([0, 1, 1, 0], np.int32), np.arange(4), masks, np.ones((1, 256)), out)
    with pytest.warns(dispatch.GPUFallbackWarning, match="OUT_OF_MEMORY"):
        dispatch.twin(boxes.box_counts, dispatch.AUTO_CUDA)(*args)
    assert out.tolist() == [[2, 2]]
    with pytest.raises(CudaAPIError):
        dispatch.twin(boxes.box_counts, "cuda")(*args)

    def bug(*args):
        raise IndexError("not a CUDA error")

    monkeypatch.setitem(twins.TWINS, boxes.box_counts, bug)
    with pytest.raises(IndexError):  # only CUDA's errors fall back
        dispatch.twin(boxes.box_counts, dispatch.AUTO_CUDA)(*args)
    monkeypatch.setitem(twins.TWINS, boxes.box_counts, oom)

    # a whole fit where "auto" picked the GPU and every GPU call fails: the CPU fit's file
    ds = datasets.load("phishing")
    cpu = RuleLearner(max_error=0.1, n_trees=4, random_state=0, device="cpu").fit(ds.X, ds.y)
    monkeypatch.setattr(dispatch, "cuda_available", lambda: True)
    monkeypatch.setattr(dispatch, "AUTO_CUDA_MIN_ROWS", 1)
    calls.clear()
    with pytest.warns(dispatch.GPUFallbackWarning):
        auto = RuleLearner(max_error=0.1, n_trees=4, random_state=0).fit(ds.X, ds.y)
    assert calls and auto.report_["device"] == "cuda"
    assert auto.rules_.to_json() == cpu.rules_.to_json()
