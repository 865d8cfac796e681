"""A CuPy batch fan-out: many matrix products on the GPUs, summarized on a CPU worker.

    python gpu/examples/matmul_fanout.py [--products 200] [--size 4096] [--gpu 0.5]
    python gpu/examples/matmul_fanout.py --address tcp://SCHED:8786

Each product builds two random matrices on the GPU, multiplies them and returns a few
statistics (scalars, so nothing large crosses the network). ``--gpu 0.5`` lets two
products share a GPU at once, overlapping one's Python overhead with the other's kernels.
"""

from __future__ import annotations

import argparse
import time

import flyte_dask as flyte

gpu_env = flyte.TaskEnvironment(name="matmul", resources=flyte.Resources(gpu=1))
cpu_env = flyte.TaskEnvironment(name="summary")


@gpu_env.task
def product(seed: int, size: int) -> dict[str, float]:
    """One float32 matrix product on this worker's GPU."""
    import cupy as cp

    rng = cp.random.default_rng(seed)
    a = rng.random((size, size), dtype=cp.float32)
    b = rng.random((size, size), dtype=cp.float32)
    c = a @ b
    return {"seed": seed, "mean": float(c.mean()), "trace": float(cp.trace(c))}


@cpu_env.task
def summarize(results: list[dict[str, float]]) -> dict[str, float]:
    """Runs on a CPU worker when there is one: GPU workers stay free."""
    return {"products": len(results), "mean_of_means": sum(r["mean"] for r in results) / len(results)}


@cpu_env.task
def main(products: int = 200, size: int = 4096, gpu: float = 1.0) -> dict[str, float]:
    shared = product.override(resources=flyte.Resources(gpu=gpu))
    results = list(flyte.map(shared, range(products), [size] * products, return_exceptions=False))
    return summarize(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--gpu", type=float, default=0.5, help="GPUs per product (0.5: two share a GPU)")
    parser.add_argument("--address", help="Dask scheduler address (default: embedded LocalCUDACluster)")
    args = parser.parse_args()
    flyte.init(args.address) if args.address else flyte.init()
    start = time.perf_counter()
    run = flyte.run(main, products=args.products, size=args.size, gpu=args.gpu)
    print(run.outputs()[0])
    seconds = time.perf_counter() - start
    print(f"{args.products / seconds:.1f} products/s; GPU use per task:")
    for record in run.gpu_usage()[:5]:
        print(
            f"  {record['key']}: GPU {record['gpu_index']} ({record['gpu_model']}), peak {record['peak_memory_bytes'] / 2**20:.0f} MiB ({record['memory_scope']})"
        )
