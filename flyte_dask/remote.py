"""Flyte 2's ``flyte.remote``: handles on a Flyte backend's runs, actions, tasks and apps.

There is no Flyte backend on Dask: each name imports, and using one raises `errors.NotOnDaskError`.
The `Run` that `flyte_dask.run` returns already follows a run (``outputs()``, ``wait()``, ``abort()``).
"""

from flyte_dask._absent import absent_names

__all__, __getattr__ = absent_names(
    "flyte.remote",
    (
        "Action", "ActionDetails", "ActionInputs", "ActionOutputs", "App", "Artifact", "Condition",
        "PartitionSchema", "Project", "Run", "RunDetails", "Secret", "SecretTypes", "Settings", "Task",
        "TaskDetails", "TimeFilter", "Trigger", "TriggerDetails", "User", "auth_metadata", "upload_dir",
        "upload_file",
    ),
    "keep the flyte_dask.Run that flyte.run(...) returns (outputs(), wait(), abort(), url: the Dask dashboard); "
    "files and directories travel as flyte.io.File / Dir",
)  # fmt: skip
