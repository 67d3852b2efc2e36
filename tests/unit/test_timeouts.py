"""Bounded time, as rules: the duration `--request-timeout` takes, when a failed request is tried
again and for how long, on both sides (labsctl's client and the collection's), which keep the
same rules; and the value reaching the client, the Ansible run and the CLI's usage errors. No
clock is real here: the pools are fakes and time is counted, not waited."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

from labsctl.cli import main
from labsctl.cluster import Cluster, resolve_target
from labsctl.errors import UsageError
from labsctl.timeouts import (
    DEFAULT_REQUEST_TIMEOUT,
    BoundedPool,
    NoAnswer,
    RequestPolicy,
    format_duration,
    parse_duration,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.module_utils import client as module_client

PARSERS = pytest.mark.parametrize(
    "parse", [parse_duration, module_client.parse_duration], ids=["labsctl", "collection"]
)
POLICIES = pytest.mark.parametrize(
    "policy_class", [RequestPolicy, module_client.RequestPolicy], ids=["labsctl", "collection"]
)


@PARSERS
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        ("45", 45.0),
        ("2.5", 2.5),
        (" 10S ", 10.0),
        ("0", 0.0),
        ("0s", 0.0),
    ],
)
def test_durations_read_as_kubectl_reads_them(
    parse: Callable[[str], float], text: str, seconds: float
) -> None:
    assert parse(text) == pytest.approx(seconds)


@PARSERS
@pytest.mark.parametrize("text", ["", "s", "10x", "-5s", "5 s", "1m-2s", "ten", "1e3", "30s,"])
def test_durations_refuse_what_is_not_one(parse: Callable[[str], float], text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse(text)


@pytest.mark.parametrize("seconds", [0.0, 0.25, 0.5, 1.0, 2.0, 30.0, 90.5, 3600.0])
def test_a_formatted_duration_reads_back_the_same(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
    assert module_client.parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@POLICIES
@pytest.mark.parametrize(
    ("method", "status", "sent", "retried"),
    [
        ("GET", 0, True, True),  # read timed out or connection dropped: a read does no harm
        ("HEAD", 0, True, True),
        ("get", 503, True, True),
        ("GET", 500, True, True),
        ("GET", 504, True, True),
        ("GET", 404, True, False),  # an answer, not a failure to answer
        ("GET", 403, True, False),
        ("GET", 501, True, False),
        ("POST", 0, True, False),  # the server may have done it: never twice
        ("PATCH", 0, True, False),
        ("DELETE", 0, True, False),
        ("PATCH", 503, True, False),
        ("PUT", 500, True, False),
        ("PATCH", 0, False, True),  # no connection was made: nothing was sent
        ("POST", 0, False, True),
        ("POST", 429, True, True),  # refused before being done
        ("DELETE", 429, True, True),
        ("GET", 429, True, True),
    ],
)
def test_only_what_cannot_change_anything_twice_is_retried(
    policy_class: Any, method: str, status: int, sent: bool, retried: bool
) -> None:
    assert policy_class().retryable(method, status=status, sent=sent) is retried


@POLICIES
def test_waits_double_and_stop_after_the_last_attempt(policy_class: Any) -> None:
    policy = policy_class(timeout=30.0)
    assert policy.wait(1, elapsed=0.0) == 0.5
    assert policy.wait(2, elapsed=1.0) == 1.0
    assert policy.wait(3, elapsed=2.0) is None  # three attempts in all


@POLICIES
def test_retry_after_is_honoured_up_to_its_cap(policy_class: Any) -> None:
    policy = policy_class(timeout=30.0)
    assert policy.wait(1, elapsed=0.0, retry_after="3") == 3.0
    assert policy.wait(1, elapsed=0.0, retry_after="0") == 0.5  # never less than the backoff
    assert policy.wait(1, elapsed=0.0, retry_after="3600") == 10.0
    assert policy.wait(1, elapsed=0.0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT") == 0.5


@POLICIES
def test_no_wait_runs_past_the_deadline(policy_class: Any) -> None:
    policy = policy_class(timeout=2.0)
    assert policy.deadline == 6.0
    assert policy.wait(1, elapsed=2.0) == 0.5
    assert policy.wait(1, elapsed=5.6) is None
    assert policy.wait(2, elapsed=0.0, retry_after="10") is None  # 10 s would end past 6 s


@POLICIES
def test_an_attempt_waits_the_request_timeout_or_what_is_left_of_the_deadline(
    policy_class: Any,
) -> None:
    policy = policy_class(timeout=2.0)
    timeout = policy.attempt_timeout(0.0)
    assert _connect_read(timeout) == (2.0, 2.0)
    assert _connect_read(policy.attempt_timeout(5.5)) == pytest.approx((0.5, 0.5))
    assert 0 < _connect_read(policy.attempt_timeout(7.0))[0] < 0.01


@POLICIES
def test_zero_means_no_timeout_and_no_deadline(policy_class: Any) -> None:
    policy = policy_class(timeout=0.0)
    assert policy.deadline is None
    assert _connect_read(policy.attempt_timeout(1e6)) == (None, None)
    assert policy.wait(1, elapsed=1e6) == 0.5


def _connect_read(timeout: Any) -> tuple[Any, Any]:
    if isinstance(timeout, urllib3.Timeout):
        return timeout.connect_timeout, timeout.read_timeout
    return tuple(timeout)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = "Reason"
        self.headers = urllib3.HTTPHeaderDict(headers or {})
        self.data = f'{{"code": {status}}}'.encode()
        self.drained = False

    def drain_conn(self) -> None:
        self.drained = True

    def release_conn(self) -> None:
        pass


class FakePool:
    """Answers each request with the next outcome: an exception to raise, or a response; each
    attempt costs the time its timeout allows when it raises a timeout."""

    def __init__(self, clock: FakeClock, outcomes: list[Any]) -> None:
        self.clock = clock
        self.outcomes = outcomes
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append({"method": method, "url": url, **kwargs})
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            if isinstance(outcome, urllib3.exceptions.ReadTimeoutError):
                self.clock.now += kwargs["timeout"].read_timeout
            raise outcome
        return outcome


def _read_timeout() -> urllib3.exceptions.ReadTimeoutError:
    return urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out.")  # type: ignore[arg-type]


def _refused() -> urllib3.exceptions.NewConnectionError:
    return urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]


class LabsctlSide:
    """labsctl's BoundedPool, as the kubernetes client calls it."""

    def __init__(self, timeout: float, outcomes: list[Any]) -> None:
        self.clock = FakeClock()
        self.pool = FakePool(self.clock, outcomes)
        self.bounded = BoundedPool(
            self.pool, RequestPolicy(timeout), clock=self.clock, sleep=self.clock.sleep
        )

    def request(self, method: str) -> int:
        response = self.bounded.request(
            method, "https://api:6443/api/v1/namespaces?x=1", timeout=None, retries=None
        )
        return int(response.status)

    timed_out = NoAnswer
    refused: Any = urllib3.exceptions.NewConnectionError


class CollectionSide:
    """The collection's Client, as the modules call it."""

    def __init__(self, timeout: float, outcomes: list[Any]) -> None:
        self.clock = FakeClock()
        self.client = module_client.Client(
            "https://api:6443",
            insecure=True,
            request_timeout=timeout,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        self.pool = FakePool(self.clock, outcomes)
        self.client.pool = self.pool

    def request(self, method: str) -> int:
        try:
            return int(self.client.request(method, "/api/v1/namespaces", query={"x": "1"})["code"])
        except module_client.ClientError as exc:
            if exc.status == 0:
                raise
            return int(exc.status)

    timed_out = module_client.ClientError
    refused: Any = module_client.ClientError


SIDES = pytest.mark.parametrize(
    "side", [LabsctlSide, CollectionSide], ids=["labsctl", "collection"]
)


@SIDES
def test_a_read_with_no_answer_is_tried_three_times_within_the_deadline(side: Any) -> None:
    run = side(2.0, [_read_timeout(), _read_timeout(), _read_timeout()])
    with pytest.raises(side.timed_out) as raised:
        run.request("GET")
    assert len(run.pool.calls) == 3
    assert run.clock.waits == [0.5, 1.0]
    assert run.clock.now <= 6.0  # the deadline: three times the request timeout
    assert "3 attempts" in str(raised.value) and "2s" in str(raised.value)
    assert _connect_read(run.pool.calls[0]["timeout"]) == (2.0, 2.0)
    # 2 s, a wait of 0.5 s, 2 s, a wait of 1 s: the last attempt gets what is left of the 6 s
    assert _connect_read(run.pool.calls[2]["timeout"]) == pytest.approx((0.5, 0.5))


@SIDES
def test_a_write_with_no_answer_is_not_sent_again(side: Any) -> None:
    run = side(2.0, [_read_timeout(), FakeResponse(200)])
    with pytest.raises(side.timed_out, match=r"1 attempt in 2\.0s"):
        run.request("PATCH")
    assert len(run.pool.calls) == 1


@SIDES
def test_a_write_that_could_not_connect_is_tried_again(side: Any) -> None:
    run = side(2.0, [_refused(), FakeResponse(201)])
    assert run.request("POST") == 201
    assert run.clock.waits == [0.5]


@SIDES
def test_a_refused_connection_fails_after_three_attempts(side: Any) -> None:
    run = side(2.0, [_refused(), _refused(), _refused()])
    with pytest.raises(side.refused, match="Connection refused"):
        run.request("GET")
    assert len(run.pool.calls) == 3


@SIDES
def test_429_is_retried_for_writes_after_retry_after(side: Any) -> None:
    run = side(30.0, [FakeResponse(429, {"Retry-After": "4"}), FakeResponse(200)])
    assert run.request("PATCH") == 200
    assert run.clock.waits == [4.0]


@SIDES
def test_5xx_is_retried_for_reads_and_returned_for_writes(side: Any) -> None:
    read = side(30.0, [FakeResponse(503), FakeResponse(500), FakeResponse(200)])
    assert read.request("GET") == 200
    assert read.clock.waits == [0.5, 1.0]
    write = side(30.0, [FakeResponse(503), FakeResponse(200)])
    assert write.request("PATCH") == 503
    assert len(write.pool.calls) == 1


@SIDES
def test_the_last_answer_is_returned_when_attempts_run_out(side: Any) -> None:
    run = side(30.0, [FakeResponse(503), FakeResponse(503), FakeResponse(503), FakeResponse(200)])
    assert run.request("GET") == 503
    assert len(run.pool.calls) == 3


@SIDES
def test_a_certificate_error_is_not_retried(side: Any) -> None:
    run = side(30.0, [urllib3.exceptions.SSLError("certificate verify failed"), FakeResponse(200)])
    with pytest.raises((urllib3.exceptions.SSLError, module_client.ClientError)):
        run.request("GET")
    assert len(run.pool.calls) == 1


def test_the_caller_cannot_lift_the_bound() -> None:
    """The kubernetes client passes its own timeout (none by default) and retries: ours win."""
    run = LabsctlSide(2.0, [FakeResponse(200)])
    run.bounded.request("GET", "https://api:6443/version", timeout=None, retries=10)
    call = run.pool.calls[0]
    assert call["retries"] is False
    assert _connect_read(call["timeout"]) == (2.0, 2.0)


def _kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_the_request_timeout_comes_from_the_argument_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = _kubeconfig(tmp_path)
    monkeypatch.delenv("LABSCTL_REQUEST_TIMEOUT", raising=False)
    assert resolve_target(kubeconfig).request_timeout == DEFAULT_REQUEST_TIMEOUT
    monkeypatch.setenv("LABSCTL_REQUEST_TIMEOUT", "1m")
    assert resolve_target(kubeconfig).request_timeout == 60.0
    assert resolve_target(kubeconfig, request_timeout=2.0).request_timeout == 2.0
    assert resolve_target(kubeconfig, request_timeout=0.0).request_timeout == 0.0
    monkeypatch.setenv("LABSCTL_REQUEST_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="LABSCTL_REQUEST_TIMEOUT"):
        resolve_target(kubeconfig)


def test_every_request_of_the_client_and_the_ansible_run_get_the_timeout(
    tmp_path: Path,
) -> None:
    target = resolve_target(_kubeconfig(tmp_path), request_timeout=2.5)
    pool = Cluster(target).api.rest_client.pool_manager
    assert isinstance(pool, BoundedPool)
    assert pool.policy.timeout == 2.5
    assert target.ansible_env(tmp_path)["LABSCTL_REQUEST_TIMEOUT"] == "2.5s"
    no_limit = resolve_target(_kubeconfig(tmp_path), request_timeout=0.0)
    assert no_limit.ansible_env(tmp_path)["LABSCTL_REQUEST_TIMEOUT"] == "0"


def test_the_modules_read_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABSCTL_REQUEST_TIMEOUT", raising=False)
    assert module_client.request_timeout(None) == 30.0
    monkeypatch.setenv("LABSCTL_REQUEST_TIMEOUT", "2.5s")
    assert module_client.request_timeout(None) == 2.5
    assert module_client.request_timeout("1m") == 60.0
    with pytest.raises(module_client.ClientError, match="request_timeout"):
        module_client.request_timeout("soon")


def test_a_bad_request_timeout_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "status",
                "--all",
                "--kubeconfig",
                str(_kubeconfig(tmp_path)),
                "--request-timeout",
                "2x",
            ]
        )
    assert exited.value.code == 2
    assert "'2x' is not a duration" in capsys.readouterr().err
