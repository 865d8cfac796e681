"""A program written for Flyte 2, imports and all: `import flyte`, `from flyte.io import File`, a pydantic
model and a dataclass from a module beside it, dict inputs, datetimes, several outputs. Run by
`flyte-dask run written_for_flyte.py main --address ...` and `python -m flyte_dask written_for_flyte.py ADDRESS`."""

import asyncio
import datetime
import json
import sys
from typing import NamedTuple

import flyte
import flyte.remote  # imports; never used on this path
from flyte.io import File
from shapes import Box, Product

env = flyte.TaskEnvironment(name="written_for_flyte")


class Totals(NamedTuple):
    count: int
    price: float


@env.task
def make(i: int) -> Product:
    return Product(name=f"p{i}", price=i * 1.5)


@env.task
async def describe(box: Box) -> str:
    return f"{box.label}:{box.size}"


@env.task
async def stamp(when: datetime.datetime) -> datetime.datetime:
    assert when.tzinfo is not None, "a naive datetime arrives UTC-aware"
    return when


@env.task
async def total(products: list[Product]) -> Totals:
    return Totals(len(products), sum(p.price for p in products))


@env.task
async def main(n: int, box: Box) -> str:
    products = [p async for p in flyte.map.aio(make, range(n))]
    more = await asyncio.gather(*[make.aio(i) for i in range(n)])
    counted = await total(products + list(more))
    when = await stamp(datetime.datetime(2024, 1, 15, 10, 30))
    found = {"count": counted.count, "price": counted.price, "box": await describe(box), "when": when.isoformat()}
    return json.dumps({**found, "file": File.__module__})


if __name__ == "__main__":
    flyte.init(sys.argv[1])
    run = flyte.run(main, n=4, box={"label": "crate"})
    print(run.outputs()[0])
    print(json.dumps(list(flyte.run(total, [{"name": "x", "price": 2.0}]).outputs())))
