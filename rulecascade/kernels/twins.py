"""The registry of CUDA twins: each CPU kernel that a fit may run on the GPU, and its twin with
the same arguments and results (``dispatch.twin`` reads it; imported only for a GPU fit)."""

from __future__ import annotations

from . import binning, boxes, boxes_cuda, match_cpu, match_cuda

TWINS = {
    boxes.box_counts: boxes_cuda.box_counts,
    boxes.box_margins: boxes_cuda.box_margins,
    boxes.box_bitsets: boxes_cuda.box_bitsets,
    binning.bin_columns: boxes_cuda.bin_columns,
    match_cpu.match_rows: match_cuda.match_rows,
}
