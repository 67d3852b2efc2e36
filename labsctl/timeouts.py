"""Bounded time for every API call: one request timeout, one deadline per call, few retries.

`--request-timeout` (`LABSCTL_REQUEST_TIMEOUT`, default 30s) bounds each wait for the API server:
the connection, the TLS handshake, and every read of the answer. One call, all attempts and
waits included, ends within `attempts` times that (its deadline). A call is tried again, with
waits of 0.5 s, 1 s, ... (the server's `Retry-After` honoured up to 10 s), only when that cannot
do a change twice: when the connection could not be opened (nothing was sent), when a read
(GET, HEAD) failed or got 5xx, and on 429 (the server refused the request before doing it).

The collection's module_utils/client.py applies the same rules in the Ansible modules (it cannot
import labsctl); tests/unit/test_timeouts.py holds both to the same table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

DEFAULT_REQUEST_TIMEOUT = 30.0
REQUEST_TIMEOUT_ENV = "LABSCTL_REQUEST_TIMEOUT"
IDEMPOTENT = frozenset({"GET", "HEAD"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})  # for reads; 429 for any method

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a duration as kubectl's --request-timeout takes it: `30s`, `1m`, `1m30s`,
    `500ms`, `1.5s`, `2h`, or a plain number of seconds; `0` means no timeout (0.0)."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    if not value or _PART.sub("", value):
        raise ValueError(
            f"{text!r} is not a duration: give a number with a unit (500ms, 30s, 1m, 1m30s, 1h), "
            "a number of seconds, or 0 for no timeout"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """The shortest text `parse_duration` reads back as `seconds` (`0` for no timeout)."""
    if seconds <= 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class RequestPolicy:
    """How long one API call may wait and when it is tried again. `timeout` 0: no limit."""

    timeout: float = DEFAULT_REQUEST_TIMEOUT
    attempts: int = 3
    first_wait: float = 0.5  # doubled after each failed attempt
    max_wait: float = 10.0  # cap on a wait, Retry-After included

    @property
    def deadline(self) -> float | None:
        """The longest one call takes, every attempt and wait included (None: unbounded)."""
        return self.timeout * self.attempts if self.timeout > 0 else None

    def retryable(self, method: str, *, status: int = 0, sent: bool = True) -> bool:
        """Whether a failed attempt may be tried again without risking a change done twice:
        `status` is the HTTP status (0: no answer), `sent` False when no connection was made."""
        if status == 429 or not sent:
            return True
        return method.upper() in IDEMPOTENT and (status == 0 or status in RETRY_STATUSES)

    def wait(self, attempt: int, elapsed: float, retry_after: str | None = None) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1 for the first) before the
        next, or None when there is no next: attempts used up, or the deadline would pass."""
        if attempt >= self.attempts:
            return None
        seconds = self.first_wait * 2 ** (attempt - 1)
        if retry_after is not None and retry_after.strip().isdigit():
            seconds = max(seconds, float(retry_after))  # HTTP dates are not worth parsing here
        seconds = min(seconds, self.max_wait)
        deadline = self.deadline
        if deadline is not None and elapsed + seconds >= deadline:
            return None
        return seconds

    def attempt_timeout(self, elapsed: float) -> urllib3.Timeout:
        """The connect and read timeouts of the next attempt: the request timeout, or what is
        left of the deadline when that is less."""
        deadline = self.deadline
        if deadline is None:
            return urllib3.Timeout(connect=None, read=None)
        seconds = max(min(self.timeout, deadline - elapsed), 0.001)
        return urllib3.Timeout(connect=seconds, read=seconds)


class NoAnswer(urllib3.exceptions.TimeoutError):
    """The API server did not answer a call within the request timeout, on any attempt."""

    def __init__(self, method: str, url: str, policy: RequestPolicy, attempts: int, took: float):
        self.reason = (
            f"{method.upper()} {urlsplit(url).path}: {attempts} "
            f"attempt{'s' if attempts != 1 else ''} in {took:.1f}s, none answered within the "
            f"request timeout of {format_duration(policy.timeout)}"
        )
        super().__init__(self.reason)


class BoundedPool:
    """A urllib3 pool manager whose every request follows a RequestPolicy, whatever timeout
    and retries the caller (the kubernetes client) asks for."""

    def __init__(
        self,
        pool: Any,
        policy: RequestPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pool = pool
        self.policy = policy
        self._clock = clock
        self._sleep = sleep

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("timeout", None)
        kwargs["retries"] = False  # ours, below: urllib3 raises the first error as it is
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            elapsed = self._clock() - started
            try:
                response = self._pool.request(
                    method, url, *args, timeout=self.policy.attempt_timeout(elapsed), **kwargs
                )
            except urllib3.exceptions.SSLError:
                raise  # a certificate does not get better by asking again
            except urllib3.exceptions.HTTPError as exc:
                # NewConnectionError is a ConnectTimeoutError: either way nothing was sent.
                sent = not isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
                took = self._clock() - started
                wait = self.policy.wait(attempt, took)
                if wait is None or not self.policy.retryable(method, sent=sent):
                    if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
                        exc, urllib3.exceptions.NewConnectionError
                    ):
                        raise NoAnswer(method, url, self.policy, attempt, took) from exc
                    raise
            else:
                status = int(response.status)
                wait = self.policy.wait(
                    attempt, self._clock() - started, response.headers.get("Retry-After")
                )
                if wait is None or status < 400 or not self.policy.retryable(method, status=status):
                    return response
                response.drain_conn()
                response.release_conn()
            self._sleep(wait)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
