# Seed: "Basic map_task migration" (Flyte 2 column), verbatim but for the import.
import flyte_dask as flyte

env = flyte.TaskEnvironment(name="my_env")

@env.task
def process_item(x: int) -> int:
    return x * 2

@env.task
def main(items: list[int]) -> list[int]:
    return list(flyte.map(process_item, items))
