"""The fleet report from a real fleet on the sandbox, loaded in a real browser.

Three residencies are applied (one ending soon with hostile text in its organisation, description
and an annotation, one with Tekton pipelines and Argo CD tools, one upcoming); a Pod and a
PersistentVolumeClaim use some of a stage's quota; PipelineRuns and Argo CD Applications get the
status their controllers would write (the sandbox runs neither controller). `labsctl status
--all SPEC -o html` writes the page, and headless Chromium (Debian's `chromium`, installed by
`hack/browser`) loads it from a file: URL with name resolution disabled:

- the screenshot is a PNG of the window's size with more than one colour (not blank);
- the DOM after load has the expected text, the hostile values as text and no <script>;
- Chromium logged no console message (a CSP violation or a script error would be one);
- Chromium's NetLog holds no request made by the page.

`LABSCTL_UPDATE_SCREENSHOT=1` keeps the screenshot as docs/images/fleet-report.png.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.conftest import delete_residency, wait_for
from tests.integration.playbooks import REPO, write_spec

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
WINDOW = (1200, 1600)
NARROW = (320, 1200)
SCREENSHOT = REPO / "docs" / "images" / "fleet-report.png"


def labsctl(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LABSCTL_LOCK_TIMEOUT": "30"}
    environment.pop("KUBECONFIG", None)
    environment["LABSCTL_KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [sys.executable, "-m", "labsctl", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=600,
        check=False,
    )


@pytest.fixture
def fleet_names(k8s: client.ApiClient) -> Iterator[list[str]]:
    """Three residency names unique to this test; everything they own is deleted afterwards."""
    names = [f"t-{secrets.token_hex(4)}" for _ in range(3)]
    yield names
    for name in names:
        delete_residency(k8s, name)


def _dates(start: int, end: int, archive: int | None = None) -> dict[str, str]:
    today = dt.date.today()
    dates = {
        "start": (today + dt.timedelta(days=start)).isoformat(),
        "end": (today + dt.timedelta(days=end)).isoformat(),
    }
    if archive is not None:
        dates["archive"] = (today + dt.timedelta(days=archive)).isoformat()
    return dates


def _specs(directory: Path, names: list[str]) -> list[Path]:
    hostile, platform, upcoming = names

    def ending_soon(data: dict[str, Any]) -> None:
        data["metadata"]["annotations"] = {"example.com/note": IMG}
        data["spec"]["organisation"] = SCRIPT
        data["spec"]["description"] = f"{SCRIPT} {IMG}"
        data["spec"]["dates"] = _dates(-30, 3)

    def active(data: dict[str, Any]) -> None:
        data["spec"]["dates"] = _dates(-10, 40, 70)

    def later(data: dict[str, Any]) -> None:
        data["spec"]["dates"] = _dates(14, 60)

    return [
        write_spec(directory, hostile, mutate=ending_soon),
        write_spec(directory, platform, "openshift-platform", mutate=active),
        write_spec(directory, upcoming, mutate=later),
    ]


def _use_quota(k8s: client.ApiClient, namespace: str) -> None:
    """A Pod (Pending: the sandbox has no scheduler) and a claim count against the quota."""
    core = client.CoreV1Api(k8s)
    assert wait_for(lambda: bool(core.list_namespaced_service_account(namespace).items))
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "registry.example.com/web:1",
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "1Gi"},
                            "limits": {"cpu": "1", "memory": "1Gi"},
                        },
                    }
                ]
            },
        },
    )
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    )


def _run_pipelines(k8s: client.ApiClient, namespace: str) -> None:
    """Two PipelineRuns, with the status Tekton's controller writes when they end."""
    custom = client.CustomObjectsApi(k8s)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for offset, (name, outcome, reason) in enumerate(
        [("build-ok", "True", "Succeeded"), ("build-broken", "False", "Failed")]
    ):
        custom.create_namespaced_custom_object(
            "tekton.dev",
            "v1",
            namespace,
            "pipelineruns",
            {
                "apiVersion": "tekton.dev/v1",
                "kind": "PipelineRun",
                "metadata": {"name": name},
                "spec": {"pipelineRef": {"name": "build-and-deploy"}},
            },
        )
        when = (started + dt.timedelta(minutes=offset)).isoformat().replace("+00:00", "Z")
        custom.patch_namespaced_custom_object_status(
            "tekton.dev",
            "v1",
            namespace,
            "pipelineruns",
            name,
            {
                "status": {
                    "startTime": when,
                    "completionTime": when,
                    "conditions": [{"type": "Succeeded", "status": outcome, "reason": reason}],
                }
            },
        )


def _sync_tools(k8s: client.ApiClient, residency: str) -> None:
    """The sync and health Argo CD's controller reports, one tool healthy, one degraded."""
    custom = client.CustomObjectsApi(k8s)
    states = {
        f"{residency}-nexus": ("Synced", "Healthy"),
        f"{residency}-sonarqube": ("OutOfSync", "Degraded"),
    }
    for name, (sync, health) in states.items():
        custom.patch_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            "openshift-gitops",
            "applications",
            name,
            {"status": {"sync": {"status": sync}, "health": {"status": health}}},
        )


def test_fleet_page_renders_real_data_in_chromium_without_script_or_network(
    tmp_path: Path, fleet_names: list[str], admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run hack/browser (hack/test does)")
    hostile, platform, upcoming = fleet_names
    specs = _specs(tmp_path, fleet_names)
    validated = labsctl("validate", str(specs[0]), kubeconfig=admin_kubeconfig)
    assert validated.returncode == 0, validated.stderr
    applied = labsctl("apply", *map(str, specs), kubeconfig=admin_kubeconfig)
    assert applied.returncode == 0, applied.stderr

    _use_quota(k8s, f"{hostile}-dev")
    _run_pipelines(k8s, f"{platform}-ci-cd")
    _sync_tools(k8s, platform)
    client.RbacAuthorizationV1Api(k8s).delete_namespaced_role_binding("team-edit", f"{hostile}-dev")

    report = labsctl("status", "--all", str(specs[0]), "-o", "html", kubeconfig=admin_kubeconfig)
    assert report.returncode == 0, report.stderr
    page = tmp_path / "fleet.html"
    page.write_text(report.stdout, encoding="utf-8")

    browser = _Chromium(chromium, tmp_path / "chromium")
    dom = _Dom(browser.dump_dom(page))
    shot = browser.screenshot(page, tmp_path / "fleet.png", WINDOW)
    narrow = browser.screenshot(page, tmp_path / "fleet-320.png", NARROW)

    assert _png_size(shot) == WINDOW and _colours(shot) > 10  # not blank
    assert _png_size(narrow) == NARROW and _colours(narrow) > 10
    # Console messages (a CSP violation, a script error) and requests the page made: none.
    assert (browser.console, browser.page_requests) == ([], [])

    assert "script" not in dom.tags and "img" not in dom.tags
    text = dom.text
    assert text.count(SCRIPT) >= 3  # organisation twice, the stages' description
    assert IMG in text  # the annotation
    server = yaml.safe_load(admin_kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    for expected in (
        *fleet_names,
        f"today {dt.date.today().isoformat()}",
        server,
        "ending-soon",
        "upcoming",
        "active",
        # quota of the hostile residency's dev stage: the Pod and the claim
        "0.5 cores of 2 cores (25%)",
        "1 of 20 (5%)",
        "5 GiB of 20 GiB (25%)",
        # drift, checked through the given spec
        f"created RoleBinding {hostile}-dev/team-edit",
        # pipelines and tools of the platform residency
        "build-broken",
        "build-ok",
        f"{platform}-sonarqube",
        "OutOfSync",
        "Degraded",
        # the team
        "alice@example.com",
        f"{platform}-mobile-banking-engineers",
        "UTC, succeeded",  # the last apply, recorded on the namespaces
    ):
        assert expected in text, expected
    if os.environ.get("LABSCTL_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    metrics = labsctl(
        "status", "--all", str(specs[0]), "-o", "openmetrics", kubeconfig=admin_kubeconfig
    )
    assert metrics.returncode == 0, metrics.stderr
    assert metrics.stdout.endswith("# EOF\n")
    samples = {
        (s.name, s.labels.get("residency"), s.labels.get("stage"), s.labels.get("resource")): s
        for family in text_string_to_metric_families(metrics.stdout)
        for s in family.samples
        if s.name != "labsctl_residency_phase"
    }
    phases = {
        s.labels["residency"]: s.labels["phase"]
        for family in text_string_to_metric_families(metrics.stdout)
        for s in family.samples
        if s.name == "labsctl_residency_phase" and s.value == 1
    }
    assert [phases[name] for name in fleet_names] == ["ending-soon", "active", "upcoming"]
    assert samples[("labsctl_residency_drifted", hostile, None, None)].value == 1
    assert ("labsctl_residency_drifted", platform, None, None) not in samples  # not checked
    assert samples[("labsctl_residency_days_left", hostile, None, None)].value == 4
    assert samples[("labsctl_quota_used", hostile, "dev", "requests.memory")].value == 2**30
    assert samples[("labsctl_quota_hard", hostile, "dev", "requests.cpu")].value == 2
    assert samples[("labsctl_residency_last_apply_success", upcoming, None, None)].value == 1
    applied_at = samples[("labsctl_residency_last_apply_timestamp_seconds", platform, None, None)]
    assert abs(applied_at.value - dt.datetime.now(dt.UTC).timestamp()) < 600


class _Chromium:
    """Debian's chromium, headless, as root in a container: no sandbox, no GPU, no name
    resolution, no background traffic of its own; console messages on stderr, every network
    request in a NetLog."""

    def __init__(self, binary: str, scratch: Path) -> None:
        self.binary = binary
        self.scratch = scratch
        self.console: list[str] = []
        self.page_requests: list[str] = []
        self.runs = 0

    def _run(self, page: Path, *extra: str) -> str:
        self.runs += 1
        netlog = self.scratch / f"netlog-{self.runs}.json"
        self.scratch.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={self.scratch / 'profile'}",
                "--enable-logging=stderr",
                "--v=0",
                f"--log-net-log={netlog}",
                *extra,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        self.console += [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        self.page_requests += _page_requests(netlog)
        return done.stdout

    def dump_dom(self, page: Path) -> str:
        return self._run(page, "--dump-dom")

    def screenshot(self, page: Path, path: Path, size: tuple[int, int]) -> Path:
        self._run(page, f"--screenshot={path}", f"--window-size={size[0]},{size[1]}")
        return path


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for. Requests the browser makes on its own behalf (update checks,
    which the flags mostly silence) have no initiating origin; the page's have its origin."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start
        and (event.get("params") or {}).get("initiator", "not an origin") != "not an origin"
    ]


class _Dom(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self._text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())


def _png_chunks(path: Path) -> Iterator[tuple[bytes, bytes]]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        yield kind, data[offset + 8 : offset + 8 + length]
        offset += 12 + length


def _png_size(path: Path) -> tuple[int, int]:
    header = dict(_png_chunks(path))[b"IHDR"]
    width, height = struct.unpack(">II", header[:8])
    return width, height


def _colours(path: Path, enough: int = 10) -> int:
    """How many colours the (8-bit RGB or RGBA) PNG has, counted until more than `enough`."""
    chunks = list(_png_chunks(path))
    header = dict(chunks)[b"IHDR"]
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    step = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * step
    previous = bytearray(stride)
    seen: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, step)
        for x in range(0, stride, step * 7):  # every 7th pixel is plenty for a count
            seen.add(bytes(line[x : x + step]))
        if len(seen) > enough:
            break
        previous = line
    return len(seen)


def _unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> bytearray:
    """PNG's per-row filters (RFC 2083, 6): None, Sub, Up, Average, Paeth."""
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = previous[i - step] if i >= step else 0
            estimate = left + up - corner
            pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
            best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + best) & 0xFF
    return line
