"""Flyte 2's error classes (``flyte.errors`` in flyte 2.12): same names, bases and fields.

``import flyte_dask as flyte`` and ``except flyte.errors.RuntimeUserError`` catches a
task's failure as it does on Flyte. Beyond Flyte 2: an exception raised by a task
arrives as an instance of *both* `RuntimeUserError` (``code`` = the original type's
name) *and* its original type, with its remote traceback, so plain ``except ValueError``
works too. Dask's own failures map onto these classes:

- a task's exception: `RuntimeUserError` (and the original type);
- retries used up: `RetriesExhaustedError` (and the last attempt's type);
- a worker lost while running the call more than ``distributed.scheduler.allowed-failures``
  times (Dask's ``KilledWorker``): `RuntimeSystemError` (and ``KilledWorker``), or
  `OOMError` when the nanny restarted that worker for memory; a ``MemoryError``: `OOMError`;
- ``Timeout(max_runtime=...)`` exceeded: `MaxRuntimeExceededError` (and ``TimeoutError``),
  ``Timeout(max_queued_time=...)``: `MaxQueuedTimeExceededError`;
- a return value that does not match the annotation: `RuntimeDataValidationError`;
- ``sys.exit`` or ``raise KeyboardInterrupt`` in task code: `TaskExitError` (that call's failure alone).

Raise `NonRecoverableError` in a task to skip its remaining retries.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal["system", "unknown", "user"]


class BaseRuntimeError(RuntimeError):
    """Base of every runtime error: ``code`` (e.g. the original exception's type name),
    ``kind`` (``"user"``, ``"system"`` or ``"unknown"``), ``root_cause_message`` and
    ``worker`` (the Dask worker's address where the call failed, when known)."""

    def __init__(self, code: str, kind: ErrorKind, root_cause_message: str, worker: str | None = None):
        super().__init__(root_cause_message)
        self.code = code
        self.kind = kind
        self.root_cause_message = root_cause_message
        self.worker = worker

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state: a subclass's ``__init__`` takes other arguments than ``args`` holds, so it is not called
        again where the error is unpickled (a worker's error arriving on the driver)."""
        return (_restore, (type(self), self.args, self.__dict__))

    def _reraise(self, *_args: Any) -> Any:
        """Re-raise this error when code treats it as a value: ``sum(flyte.map(...))`` with a
        failed item says what failed instead of raising ``TypeError: unsupported operand``."""
        raise self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _reraise
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _reraise


def _restore(cls: type[BaseRuntimeError], args: tuple[Any, ...], state: dict[str, Any]) -> BaseRuntimeError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InitializationError(BaseRuntimeError):
    """flyte_dask was used in a way that needs `flyte_dask.init` first."""


class RuntimeSystemError(BaseRuntimeError):
    """A call failed for a reason outside the user's code: on Dask, workers lost while running
    it (``KilledWorker``) or the scheduler lost."""

    def __init__(self, code: str, message: str, worker: str | None = None):
        super().__init__(code, "system", message, worker)


class UnionRpcError(RuntimeSystemError):
    """Flyte's RPC to its control plane failed (never raised on Dask: there is no control plane)."""


class RuntimeUserError(BaseRuntimeError):
    """A call failed because of the user's code: its exception, with ``code`` its type's name."""

    def __init__(self, code: str, message: str, worker: str | None = None):
        super().__init__(code, "user", message, worker)


class RuntimeUnknownError(BaseRuntimeError):
    """A call failed for a reason that could not be attributed."""

    def __init__(self, code: str, message: str, worker: str | None = None):
        super().__init__(code, "unknown", message, worker)


class TaskExitError(RuntimeUserError):
    """Task code raised ``SystemExit`` (``sys.exit``, ``exit()``, a library quitting on bad input) or
    ``KeyboardInterrupt``: that call fails alone, and the worker and every other call go on.

    Beyond Flyte 2 (whose local runner hangs on it). ``code`` is ``"SystemExit"`` or
    ``"KeyboardInterrupt"``, ``exit_code`` what ``sys.exit`` was given (None for a bare exit
    or an interrupt), and ``__cause__`` the original where it was raised in this process. It is
    not an instance of ``SystemExit``: asyncio re-raises those out of the event loop awaiting them.
    """

    exit_code: Any = None


class OOMError(RuntimeUserError):
    """A call ran out of memory: a ``MemoryError``, or its worker restarted by Dask's nanny for memory."""


GPU_FAULT_CODES: tuple[str, ...] = (
    "GpuXidError",
    "GpuFallenOffBus",
    "GpuEccUncorrectable",
    "GpuRowRemapPending",
    "GpuNvlinkError",
    "GpuGspError",
)
"""Flyte's codes for failures attributed to a GPU or NVSwitch fault."""


class GPUFaultError(BaseRuntimeError):
    """A failure attributed to a GPU or NVSwitch fault (Flyte's GPU health checks; not raised on Dask)."""

    def __init__(
        self,
        code: str,
        kind: ErrorKind,
        message: str,
        worker: str | None = None,
        *,
        fault_kind: str | None = None,
        fault_code: int | None = None,
        fault_name: str | None = None,
        severity: str | None = None,
        gpu_uuid: str | None = None,
        gpu_index: int | None = None,
        node: str | None = None,
        pci_bus_id: str | None = None,
        process: str | None = None,
    ):
        BaseRuntimeError.__init__(self, code, kind, message, worker)
        self.fault_kind = fault_kind
        self.fault_code = fault_code
        self.fault_name = fault_name
        self.severity = severity
        self.gpu_uuid = gpu_uuid
        self.gpu_index = gpu_index
        self.node = node
        self.pci_bus_id = pci_bus_id
        self.process = process

    @property
    def xid(self) -> int | None:
        """The NVIDIA Xid number of the fault, if it was one."""
        return self.fault_code if self.fault_kind == "xid" else None

    @property
    def sxid(self) -> int | None:
        """The NVSwitch SXid number of the fault, if it was one."""
        return self.fault_code if self.fault_kind == "sxid" else None


class GPUFaultUserError(GPUFaultError, RuntimeUserError):
    """A GPU fault caused by the workload itself."""

    def __init__(self, code: str, message: str, worker: str | None = None, **fault: Any):
        GPUFaultError.__init__(self, code, "user", message, worker, **fault)


class GPUFaultSystemError(GPUFaultError, RuntimeSystemError):
    """A GPU hardware fault."""

    def __init__(self, code: str, message: str, worker: str | None = None, **fault: Any):
        GPUFaultError.__init__(self, code, "system", message, worker, **fault)


class TaskInterruptedError(RuntimeUserError):
    """A call was interrupted."""


class PrimaryContainerNotFoundError(RuntimeUserError):
    """Kubernetes' primary container was not found (not raised on Dask)."""


class TaskTimeoutError(RuntimeUserError):
    """A call exceeded one of its `flyte_dask.Timeout` bounds; the subclasses say which."""

    def __init__(self, message: str, code: str = "TaskTimeoutError"):
        super().__init__(code, message, None)


class MaxQueuedTimeExceededError(TaskTimeoutError):
    """A call waited longer than ``Timeout.max_queued_time`` before it started on a worker."""

    def __init__(self, message: str):
        super().__init__(message, code="MaxQueuedTimeExceededError")


class MaxRuntimeExceededError(TaskTimeoutError):
    """An attempt ran longer than ``Timeout.max_runtime``."""

    def __init__(self, message: str):
        super().__init__(message, code="MaxRuntimeExceededError")


class DeadlineExceededError(TaskTimeoutError):
    """A call did not finish, retries included, within ``Timeout.deadline`` of its submission."""

    def __init__(self, message: str):
        super().__init__(message, code="DeadlineExceededError")


class ConditionTimedoutError(RuntimeUserError):
    """A condition was not signalled in time (Flyte conditions; not on Dask)."""

    def __init__(self, message: str):
        super().__init__("ConditionTimedoutError", message)


class RetriesExhaustedError(RuntimeUserError):
    """Every attempt of a call with retries failed; ``code`` and the original type are the last attempt's."""


class InvalidImageNameError(RuntimeUserError):
    """An image name is invalid (not raised on Dask)."""


class ImagePullBackOffError(RuntimeUserError):
    """An image could not be pulled (not raised on Dask)."""


class CustomError(RuntimeUserError):
    """A user-defined error with a code of the user's choosing."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, None)

    @classmethod
    def from_exception(cls, e: Exception) -> CustomError:
        """A `CustomError` whose code is ``e``'s type name, caused by ``e``."""
        new_exc = cls(e.__class__.__name__, str(e))
        new_exc.__cause__ = e
        return new_exc


class NotInTaskContextError(RuntimeUserError):
    """Something that needs a running task was used outside one."""


class ActionNotFoundError(RuntimeError):
    """A Flyte action does not exist (not raised on Dask)."""


class RemoteTaskNotFoundError(RuntimeUserError):
    """A remote task does not exist (not raised on Dask)."""

    def __init__(self, message: str):
        super().__init__("RemoteTaskNotFound", message, None)


class RemoteTaskUsageError(RuntimeUserError):
    """A remote task was used wrongly (not raised on Dask)."""

    def __init__(self, message: str):
        super().__init__("RemoteTaskUsageError", message, None)


class LogsNotYetAvailableError(BaseRuntimeError):
    """Logs are not available yet (not raised on Dask: see the dashboard's worker logs)."""

    def __init__(self, message: str):
        super().__init__("LogsNotYetAvailable", "system", message, None)


class RuntimeDataValidationError(RuntimeUserError):
    """A value does not match its annotation: a task's return value (checked on the worker)."""

    def __init__(self, var: str, e: Exception | str, task_name: str = ""):
        super().__init__(
            "DataValidationError", f"In task {task_name} variable {var}, failed to serialize/deserialize because of {e}"
        )


class DeploymentError(RuntimeUserError):
    """A deployment failed (not raised on Dask)."""

    def __init__(self, message: str):
        super().__init__("DeploymentError", message, "user")


class ImageBuildError(RuntimeUserError):
    """An image build failed (not raised on Dask)."""

    def __init__(self, message: str):
        super().__init__("ImageBuildError", message, "user")


class ModuleLoadError(RuntimeUserError):
    """A module could not be loaded: on Dask, a script or module given to ``flyte-dask run``."""

    def __init__(self, message: str):
        super().__init__("ModuleLoadError", message, "user")


class InlineIOMaxBytesBreached(RuntimeUserError):
    """Flyte's inline IO limit was breached (not raised on Dask)."""

    def __init__(self, message: str):
        super().__init__("InlineIOMaxBytesBreached", message, "user")


class ActionAbortedError(RuntimeUserError):
    """A call was aborted from outside: on Dask, its future was cancelled."""

    def __init__(self, message: str):
        super().__init__("ActionAborted", message, "user")


class SlowDownError(RuntimeUserError):
    """A service asked the caller to slow down."""

    def __init__(self, message: str):
        super().__init__("SlowDownError", message, "user")


class ResourceExhaustedError(SlowDownError):
    """A service's resources are exhausted."""


class OnlyAsyncIOSupportedError(RuntimeUserError):
    """Sync IO was used where only async IO is supported."""

    def __init__(self, message: str):
        super().__init__("OnlyAsyncIOSupported", message, "user")


class ParameterMaterializationError(RuntimeUserError):
    """An app parameter could not be materialized (not raised on Dask)."""

    def __init__(self, message: str):
        super().__init__("ParameterMaterializationError", message, "user")


class RestrictedTypeError(RuntimeUserError):
    """A restricted type was used."""

    def __init__(self, message: str):
        super().__init__("RestrictedTypeUsed", message, "user")


class CodeBundleError(RuntimeUserError):
    """A code bundle could not be created (not raised on Dask: code travels with cloudpickle)."""

    def __init__(self, message: str):
        super().__init__("CodeBundleError", message, "user")


class SyncTaskCallInAsyncContextError(RuntimeUserError):
    """A sync task was called directly (blocking) inside an async task; use ``await task.aio(...)``."""

    def __init__(self, message: str):
        super().__init__("SyncTaskCallInAsyncContextError", message, "user")


class TraceDoesNotAllowNestedTasksError(RuntimeUserError):
    """A task was called inside a `flyte_dask.trace` function; traces run inline and cannot fan out."""

    def __init__(self, message: str):
        super().__init__("TraceDoesNotAllowNestedTasksError", message, "user")


class InvalidPackageError(RuntimeUserError):
    """An invalid system package was named in an image (not raised on Dask)."""

    def __init__(self, package_name: str, original_error: str):
        self.package_name = package_name
        self.original_error = original_error
        super().__init__(
            "InvalidPackageError",
            f"Invalid system package detected: '{package_name}'. This package does not exist in apt repositories. "
            f"Error: {original_error}",
        )


class NonRecoverableError(RuntimeUserError):
    """Raise it in a task to fail the call at once: its remaining retries are skipped."""

    def __init__(self, message: str, code: str = "NonRecoverableError"):
        super().__init__(code, message)


class ConditionAlreadyExistsError(RuntimeUserError):
    """A condition already exists (Flyte conditions; not on Dask)."""

    def __init__(self, message: str):
        super().__init__("ConditionAlreadyExistsError", message)


class ConditionFailedError(RuntimeUserError):
    """A condition failed (Flyte conditions; not on Dask)."""

    def __init__(self, message: str):
        super().__init__("ConditionFailedError", message)


class ConditionNotFoundError(RuntimeUserError):
    """A condition does not exist (Flyte conditions; not on Dask)."""

    def __init__(self, message: str):
        super().__init__("ConditionNotFoundError", message)


class NotOnDaskError(RuntimeUserError, NotImplementedError):
    """A name of Flyte 2's platform that has no meaning on a Dask cluster was used (``flyte.remote.Run.get``,
    ``flyte.artifacts.new``, ...). Importing such a name works, so a program runs until it uses one; the
    message names it and what to use instead. Beyond Flyte 2, which has the platform behind it.
    """

    def __init__(self, message: str):
        super().__init__("NotOnDaskError", message)


class UnsatisfiableResourcesError(RuntimeError):
    """No worker of the cluster offers the resources a task asks for, and none joined in time.

    Beyond Flyte 2 (Flyte's scheduler would hold the action pending): on a fixed cluster
    the wait is ``flyte-dask.resources-timeout``, on one that can grow
    ``flyte-dask.grow-timeout``. The message names what was asked, what each worker
    offers, and whether the cluster can grow.
    """

    @classmethod
    def for_request(
        cls, task_name: str, request: dict[str, float], offers: dict[str, dict[str, float]], waited: float, grows: bool
    ) -> UnsatisfiableResourcesError:
        """The error for ``task_name``'s ``request`` after ``waited`` seconds, against what workers ``offers``."""
        if offers:
            offered = "workers offer: " + "; ".join(
                f"{address} {resources or '(no resources)'}" for address, resources in sorted(offers.items())
            )
        else:
            offered = "the cluster has no workers"
        how = (
            "the cluster can grow, and added none that offers it (flyte-dask.grow-timeout)"
            if grows
            else "the cluster is fixed (no adapt()); flyte-dask.resources-timeout"
        )
        return cls(
            f"task {task_name} asks for {request}, which no worker offers (waited {waited:g}s for workers to join: "
            f"{how}); {offered}. Start workers that advertise it, e.g. `dask cuda worker ADDRESS "
            f'--resources "GPU=1"` or `dask worker ADDRESS --preload flyte_dask.gpu_preload`, give an adaptive '
            "cluster a pool of them (flyte_dask.PoolCluster), or ask for less with Resources(gpu=...) or "
            "task.override(resources=...)."
        )


class AppleSiliconError(RuntimeUserError):
    """Base of the errors of Flyte's devbox Apple Silicon accelerator (not raised on Dask)."""

    code_name = "APPLE_SILICON_ERROR"
    recoverable = True

    def __init__(self, message: str, worker: str | None = None):
        super().__init__(self.code_name, message, worker)


class AppleSiliconNotAvailableError(AppleSiliconError):
    """Apple Silicon was requested where there is none."""

    code_name = "APPLE_SILICON_NOT_AVAILABLE"
    recoverable = False


class AppleSiliconHostExecFailedError(AppleSiliconError):
    """An Apple Silicon workload could not run on the host."""

    code_name = "APPLE_SILICON_HOST_EXEC_FAILED"
    recoverable = False


class AppleSiliconDaemonStartFailedError(AppleSiliconError):
    """The host-side MLX daemon failed to start."""

    code_name = "APPLE_SILICON_DAEMON_START_FAILED"


class AppleSiliconDaemonOOMError(AppleSiliconError):
    """The host process of an Apple Silicon workload ran out of memory."""

    code_name = "APPLE_SILICON_DAEMON_OOM"


class AppleSiliconModelNotFoundError(AppleSiliconError):
    """The model asked of the MLX daemon was not found."""

    code_name = "APPLE_SILICON_MODEL_NOT_FOUND"
    recoverable = False


class AppleSiliconBridgeUnreachableError(AppleSiliconError):
    """The host-side Apple Silicon bridge could not be reached."""

    code_name = "APPLE_SILICON_BRIDGE_UNREACHABLE"


APPLE_SILICON_ERRORS_BY_CODE: dict[str, type[AppleSiliconError]] = {
    cls.code_name: cls
    for cls in (
        AppleSiliconNotAvailableError,
        AppleSiliconHostExecFailedError,
        AppleSiliconDaemonStartFailedError,
        AppleSiliconDaemonOOMError,
        AppleSiliconModelNotFoundError,
        AppleSiliconBridgeUnreachableError,
    )
}
"""Flyte's Apple Silicon error codes, each mapped to its error class."""
