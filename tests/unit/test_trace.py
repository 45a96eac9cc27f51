"""``scssl run``'s per-step trace: wall time, peak RSS, torch's thread count kept."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch

from scssl._trace import Trace


def test_trace_rows_peak_rss_and_threads(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trace = Trace()
        with trace.step("allocate"):
            block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
            del block
            torch.set_num_threads(2)  # as numba code does to the shared OpenMP pool
        with trace.step("next"):
            assert torch.get_num_threads() == 1
        rows = pd.read_csv(trace.write(tmp_path / "trace.tsv"), sep="\t")
    finally:
        torch.set_num_threads(before)
    assert rows["step"].tolist() == ["allocate", "next"]
    first, second = rows.iloc[0], rows.iloc[1]
    if first["peak_rss_scope"] == "step":  # Linux: the high-water mark is reset per step
        assert first["peak_rss_mib"] >= first["rss_end_mib"] + 50
        assert second["peak_rss_mib"] < first["peak_rss_mib"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim, /proc")
def test_release_memory_returns_freed_heap_to_the_os():
    from scssl._trace import release_memory, status_kib

    blocks = [bytearray(1000) for _ in range(200_000)]  # ~200 MB of malloc'd small blocks
    high = status_kib("VmRSS")
    del blocks
    release_memory()
    assert high - status_kib("VmRSS") > 100 * 1024  # KiB: most of it is given back
