"""GPU fan-out throughput: 200 float32 4096x4096 products, in one run, on one GPU host.

    python benchmarks/gpu_fanout.py [--products 200] [--size 4096]

Rows: a direct CuPy loop in this process (the baseline), raw Dask
(``client.map(..., resources={"GPU": 1})`` on the same LocalCUDACluster), and
flyte_dask.map with ``gpu=1`` and with ``gpu=0.5`` (two products share a GPU, so one's
Python and launch overhead overlaps the other's kernels). Throughput is products per
second; ratios are against the direct loop (target: flyte_dask >= 0.9x). Needs a GPU
with CuPy, dask-cuda and nvidia-ml-py; exits with a message otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, print_table

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="gpu_bench", resources=flyte.Resources(gpu=1))


def product(seed: int, size: int) -> float:
    """One product of two random float32 matrices on this process's GPU; returns a scalar."""
    import cupy as cp

    rng = cp.random.default_rng(seed)
    a = rng.random((size, size), dtype=cp.float32)
    b = rng.random((size, size), dtype=cp.float32)
    value = float((a @ b)[0, 0])  # the host read synchronizes the stream
    return value


product_task = env.task(product)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    try:
        import cupy  # noqa: F401
        import dask_cuda  # noqa: F401
    except ImportError as exc:
        sys.exit(f"gpu_fanout needs a GPU host with CuPy and dask-cuda: {exc}")
    from flyte_dask.gpu import probe

    devices = probe().devices()
    if not devices:
        sys.exit("gpu_fanout: NVML sees no GPU")
    n, size = args.products, args.size
    seeds = list(range(n))
    sizes = [size] * n

    for seed in range(3):  # warm up this process's CUDA context, RNG and GEMM kernels
        product(seed, size)
    start = time.perf_counter()
    direct = [product(seed, size) for seed in seeds]
    direct_s = time.perf_counter() - start

    client = flyte.init(dashboard_address=None)
    list(flyte.map(product_task, range(16), [size] * 16))  # warm up every GPU worker
    client.gather(client.map(product, range(16), [size] * 16, resources={"GPU": 1}, pure=False))

    def check(out: list[float]) -> None:
        """Every system computed the same products as the direct loop (up to GEMM rounding)."""
        assert len(out) == n and all(abs(o - d) <= 1e-3 * abs(d) for o, d in zip(out, direct)), "results differ"

    start = time.perf_counter()
    raw = client.gather(client.map(product, seeds, sizes, resources={"GPU": 1}, pure=False))
    raw_s = time.perf_counter() - start
    check(raw)

    rows = [
        Row(f"{n} x {size}^2 fp32", f"direct CuPy loop ({len(devices)} GPU visible, uses 1)", n, direct_s),
        Row(f"{n} x {size}^2 fp32", "raw Dask client.map GPU=1", n, raw_s),
    ]
    for gpu in (1, 0.5):
        task = product_task.override(resources=flyte.Resources(gpu=gpu))
        start = time.perf_counter()
        out = list(flyte.map(task, seeds, sizes, return_exceptions=False))
        seconds = time.perf_counter() - start
        check(out)
        rows.append(Row(f"{n} x {size}^2 fp32", f"flyte_dask.map gpu={gpu}", n, seconds))
    for row in rows[1:]:
        row.baseline = direct_s
    print_table(
        rows, f"GPU fan-out on {len(devices)} x {devices[0].name}; ratio = seconds / direct loop (lower is faster)"
    )
    for row in rows[1:]:
        print(f"{row.system}: {direct_s / row.seconds:.2f}x the direct loop's throughput")
    flyte.shutdown()


if __name__ == "__main__":
    main()
