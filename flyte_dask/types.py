"""Flyte 2's ``flyte.types``: its type engine, which turns Python values into Flyte literals and back.

Values cross a task boundary on Dask as Python objects (pickled), so there is no type engine to extend:
each name imports, and using one raises `errors.NotOnDaskError`.
"""

from flyte_dask._absent import absent_names

__all__, __getattr__ = absent_names(
    "flyte.types",
    (
        "FlytePickle", "Renderable", "TypeEngine", "TypeTransformer", "TypeTransformerFailedError",
        "guess_interface", "literal_string_repr",
    ),
    "values pass between tasks as Python objects (any picklable type works as it is), so no transformer is needed",
)  # fmt: skip
