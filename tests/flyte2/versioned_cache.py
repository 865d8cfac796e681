"""A cached map versioned by Cache(version_override=...): the same override reuses, a new one runs again."""

import sys

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="versioned")
version, log = sys.argv[1], sys.argv[2]


@env.task(cache=flyte.Cache(behavior="auto", version_override=version))
def score(x: int) -> str:
    with open(log, "a") as f:  # one short append per execution
        f.write(f"{x}\n")
    return f"{version}:{x}"


if __name__ == "__main__":
    flyte.init(n_workers=2, threads_per_worker=1)
    print(",".join(flyte.map(score, range(50))))
