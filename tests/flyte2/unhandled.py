"""A task fails and nothing handles it: one traceback, with the user's frames."""

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="unhandled")


def parse(record: str) -> int:
    return int(record)


@env.task
def load(record: str) -> int:
    return parse(record)


if __name__ == "__main__":
    flyte.init(n_workers=1, threads_per_worker=1)
    print(load("forty-two"))
