"""Health checks: what a check is, what it returns, and how the sampler runs one.

A check is any callable, sync or async, that takes no arguments (the ``HealthCheck``
protocol). It returns a ``CheckResult`` (a status, a reason, optional measurements for the
IETF view and details for operators), or ``True``/``None`` for healthy, ``False`` for
unhealthy; raising is unhealthy with the exception's text as the reason.

The background sampler runs every check (never a request): an async check on the event
loop, a sync one in a worker thread so it cannot stall the loop. Each call is bounded by
its timeout; a check still running past it is unhealthy ("timed out after 2s") and is not
called again until that call ends, so a hung check holds at most one thread.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol, TypeAlias, TypeVar

import anyio.to_thread

from .._names import VALID_NAME

READINESS: Final = "readiness"  # the checks that make /monitoring/ready fail
LIVENESS: Final = "liveness"  # the checks that make /monitoring/live fail (never a dependency)
DEFAULT_TIMEOUT_SECONDS: Final = 1.0  # a Kubernetes probe's default timeout, as a yardstick
REASON_CHARS: Final = 300  # enough for a driver's first error line, not a stack trace
T = TypeVar("T")


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @staticmethod
    def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
        return max(statuses, key=_RANK.__getitem__, default=HealthStatus.HEALTHY)


_RANK: Final = {status: rank for rank, status in enumerate(HealthStatus)}  # worse is higher


@dataclass(frozen=True, slots=True)
class Measurement:
    """One observed value, keyed ``<check>:<name>`` in ``application/health+json`` (the
    draft's measurement names: ``responseTime``, ``connections``, ``utilization`` ...);
    ``name=None`` keys it by the check's name alone."""

    name: str | None
    value: float | int | None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check found. ``details`` (JSON values) are shown only where details are."""

    status: HealthStatus
    reason: str = ""
    measurements: tuple[Measurement, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def healthy(cls, reason: str = "ok", **kwargs: Any) -> CheckResult:
        return cls(HealthStatus.HEALTHY, reason, **kwargs)

    @classmethod
    def degraded(cls, reason: str, **kwargs: Any) -> CheckResult:
        return cls(HealthStatus.DEGRADED, reason, **kwargs)

    @classmethod
    def unhealthy(cls, reason: str, **kwargs: Any) -> CheckResult:
        return cls(HealthStatus.UNHEALTHY, reason, **kwargs)


CheckOutcome: TypeAlias = CheckResult | bool | None


class HealthCheck(Protocol):
    """A health check: no arguments; sync (run in a worker thread) or async (run on the
    event loop, so it must not block). An optional ``component_type`` attribute
    (``"datastore"``, ``"system"``, default ``"component"``) feeds the IETF view."""

    def __call__(self) -> CheckOutcome | Awaitable[CheckOutcome]: ...


@dataclass(frozen=True, slots=True)
class Registration:
    """A check as ``HealthChecker.add_check`` registered it."""

    name: str
    check: HealthCheck
    critical: bool = True  # False: failing makes the overall status at most degraded
    groups: frozenset[str] = frozenset({READINESS})
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        valid_name("check name", self.name)
        for group in self.groups:
            valid_name("group name", group)
        timeout = self.timeout
        if isinstance(timeout, bool) or not (
            isinstance(timeout, int | float) and 0 < timeout < float("inf")
        ):
            raise ValueError(f"timeout: must be a finite number > 0, got {self.timeout!r}")

    @property
    def component_type(self) -> str:
        return str(getattr(self.check, "component_type", "component"))

    def effective(self, status: HealthStatus) -> HealthStatus:
        """The status this check contributes to an aggregate."""
        if not self.critical and status is HealthStatus.UNHEALTHY:
            return HealthStatus.DEGRADED
        return status


def valid_name(what: str, name: str) -> str:
    """Check and group names become label values and URL segments: keep them plain."""
    if not isinstance(name, str) or not VALID_NAME.fullmatch(name):
        raise ValueError(f"invalid {what} {name!r}: expected [a-z][a-z0-9_]*, at most 64 chars")
    return name


def aggregate(
    results: Mapping[str, CheckResult], registrations: Mapping[str, Registration]
) -> HealthStatus:
    """Worst first, a non-critical check counting at most as degraded."""
    return HealthStatus.worst(contribution(n, r, registrations) for n, r in results.items())


def contribution(
    name: str, result: CheckResult, registrations: Mapping[str, Registration]
) -> HealthStatus:
    """What one result adds to its group's status (an entry without a registration, such
    as the shutdown marker, counts as critical)."""
    registration = registrations.get(name)
    return registration.effective(result.status) if registration else result.status


class CheckRunner:
    """Runs one registered check: at most one call in flight, bounded by its timeout."""

    def __init__(self, registration: Registration) -> None:
        self.registration = registration
        self._is_async = is_async_callable(registration.check)
        self._task: asyncio.Future[CheckOutcome] | None = None
        self._started = 0.0

    async def run(self) -> CheckResult:
        """Call the check (or join the call in flight, if it is still within its time)."""
        timeout = self.registration.timeout
        task = self._task
        if task is None or task.done():
            task = self._start()
        elif time.monotonic() - self._started >= timeout:
            running = time.monotonic() - self._started
            return CheckResult.unhealthy(
                f"timed out after {timeout:g}s (the last call is still running, {running:.1f}s)"
            )
        # wait() rather than wait_for(): a check that swallows its cancellation must not
        # hold the sampler round past the timeout.
        remaining = self._started + timeout - time.monotonic()
        done, _ = await asyncio.wait({task}, timeout=max(remaining, 0.0))
        if not done:
            if self._is_async:
                task.cancel()
            # A sync check cannot be interrupted: its task stays pending until the thread
            # returns, which keeps the next round from starting a second thread.
            return CheckResult.unhealthy(f"timed out after {timeout:g}s")
        if task.cancelled():
            return CheckResult.unhealthy("cancelled")
        error = task.exception()
        if error is not None:
            return CheckResult.unhealthy(describe(error))
        return as_result(task.result())

    def _start(self) -> asyncio.Future[CheckOutcome]:
        self._started = time.monotonic()
        task = self._task = asyncio.ensure_future(self._call())
        task.add_done_callback(_retrieve)
        return task

    def cancel(self) -> None:
        """Stop waiting for a call in flight (the sampler is stopping)."""
        if self._task is not None:
            self._task.cancel()

    async def _call(self) -> CheckOutcome:
        check = self.registration.check
        if self._is_async:
            outcome = check()
        else:
            outcome = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
        if inspect.isawaitable(outcome):  # a sync callable that returned a coroutine
            outcome = await outcome
        return outcome


def is_async_callable(check: object) -> bool:
    return inspect.iscoroutinefunction(check) or inspect.iscoroutinefunction(
        getattr(check, "__call__", None)  # noqa: B004 (an object with an async __call__)
    )


def as_result(outcome: object) -> CheckResult:
    """A check's return value as a result (``True``/``None`` healthy, ``False`` unhealthy)."""
    if isinstance(outcome, CheckResult):
        return outcome
    if outcome is True or outcome is None:
        return CheckResult.healthy()
    if outcome is False:
        return CheckResult.unhealthy("check returned False")
    return CheckResult.unhealthy(
        f"check returned {type(outcome).__name__}: expected CheckResult, bool or None"
    )


def describe(error: BaseException) -> str:
    """An exception as a one-line reason: its type and the first line of its text."""
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    return text.splitlines()[0][:REASON_CHARS]


_ABANDONED: set[asyncio.Future[Any]] = set()  # kept alive until they end (asyncio holds weakly)


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """Await at most ``seconds``, else raise ``TimeoutError`` at once: unlike
    ``asyncio.wait_for`` this does not wait for the cancelled work to wind down (psycopg
    spends up to 10 s cancelling a query on a server that stopped answering)."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    task.cancel()
    _ABANDONED.add(task)
    task.add_done_callback(_ABANDONED.discard)
    task.add_done_callback(_retrieve)
    raise TimeoutError


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned call's outcome as seen, so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()
