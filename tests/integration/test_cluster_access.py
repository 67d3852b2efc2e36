"""Real cluster access, the same on both sides: labsctl's Python side and the collection's modules
reach the cluster through the kubeconfig features users have (exec plugins, several files in
KUBECONFIG, proxy-url, tls-server-name, impersonation), in a pod through the ServiceAccount, and
per residency on the context its spec names."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import shutil
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from labsctl import naming
from labsctl.cluster import Cluster, resolve_target
from labsctl.errors import ClusterError
from labsctl.sandbox.build import binaries
from labsctl.sandbox.controlplane import ControlPlane
from labsctl.status import residencies_of
from labsctl.validation import load_specs
from tests.conftest import ControlPlanes, api_client, wait_for
from tests.integration.playbooks import REPO, run_playbook, write_inventory, write_spec

sys.path.insert(0, str(REPO / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    ClientError,
    connect,
)

pytestmark = pytest.mark.integration

# Whatever the test process has: each test says exactly where the cluster is and who we are.
_CLUSTER_ENV = (
    "KUBECONFIG",
    "LABSCTL_KUBECONFIG",
    "LABSCTL_CONTEXT",
    "LABSCTL_AS",
    "LABSCTL_AS_GROUP",
    "LABSCTL_SANDBOX",
    "LABSCTL_SERVICEACCOUNT_DIR",
    "LABSCTL_ALLOWED_CONTEXTS",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
)
EXEC_API = "client.authentication.k8s.io/v1"


def run_labsctl(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in _CLUSTER_ENV and not k.startswith("K8S_")
    }
    environment.update({"LABSCTL_LOCK_TIMEOUT": "30", **env})
    return subprocess.run(
        [sys.executable, "-m", "labsctl", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=600,
        check=False,
    )


def _admin(plane: ControlPlane) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sandbox admin's cluster entry and user entry."""
    config = yaml.safe_load(plane.admin_kubeconfig.read_text())
    return config["clusters"][0]["cluster"], config["users"][0]["user"]


def _write_kubeconfig(
    path: Path,
    *,
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, tuple[str, str]] | None = None,
    current: str | None = None,
) -> Path:
    config: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if clusters:
        config["clusters"] = [{"name": n, "cluster": c} for n, c in clusters.items()]
    if users:
        config["users"] = [{"name": n, "user": u} for n, u in users.items()]
    if contexts:
        config["contexts"] = [
            {"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()
        ]
    if current:
        config["current-context"] = current
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _namespaces(k8s: client.ApiClient, residency: str) -> dict[str, str]:
    return {
        n.metadata.name: n.status.phase
        for n in client.CoreV1Api(k8s)
        .list_namespace(label_selector=naming.owner_selector(residency))
        .items
    }


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> None:
    run = subprocess.run(
        [str(binaries().kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def _remove_bootstrapper_rbac(kubeconfig: Path) -> None:
    for args in (
        ["clusterrolebinding,clusterrole", "labsctl-bootstrapper"],
        ["-n", "labsctl-system", "rolebinding,role", "labsctl-bootstrapper"],
    ):
        _kubectl(kubeconfig, "delete", "--ignore-not-found", *args)


def _delete_residencies(k8s: client.ApiClient, *names: str) -> None:
    core = client.CoreV1Api(k8s)
    for name in names:
        for namespace in _namespaces(k8s, name):
            core.delete_namespace(namespace)


def test_an_exec_credential_plugin_serves_apply_and_status(
    tmp_path: Path, residency_name: str, control_plane: ControlPlane
) -> None:
    certs = control_plane.certs
    calls = tmp_path / "plugin.calls"
    plugin = tmp_path / "credential-plugin"
    plugin.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""\
            import json, os, pathlib
            with open({str(calls)!r}, "a") as log:
                log.write(os.environ.get("KUBERNETES_EXEC_INFO", "") + "\\n")
            print(json.dumps({{
                "apiVersion": {EXEC_API!r},
                "kind": "ExecCredential",
                "status": {{
                    "clientCertificateData": pathlib.Path({str(certs / "admin.crt")!r}).read_text(),
                    "clientKeyData": pathlib.Path({str(certs / "admin.key")!r}).read_text(),
                }},
            }}))
            """
        )
    )
    plugin.chmod(0o700)
    cluster, _ = _admin(control_plane)
    kubeconfig = _write_kubeconfig(
        tmp_path / "exec.kubeconfig",
        clusters={"sandbox": cluster},
        users={
            "plugin": {
                "exec": {"apiVersion": EXEC_API, "command": str(plugin), "interactiveMode": "Never"}
            }
        },
        contexts={"sandbox": ("sandbox", "plugin")},
        current="sandbox",
    )
    spec = write_spec(tmp_path, residency_name)
    env = {"LABSCTL_KUBECONFIG": str(kubeconfig)}

    applied = run_labsctl("apply", spec, "-o", "json", env=env)
    status = run_labsctl("status", spec, "-o", "json", env=env)

    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["residencies"][0]["counts"]["created"] > 0
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)["residencies"]
    assert [(r["name"], r["inSync"]) for r in report] == [(residency_name, True)]
    # Called by the Python side and by the modules, each told what client-go tells a plugin.
    requests = [json.loads(line) for line in calls.read_text().splitlines() if line]
    assert len(requests) > 2
    assert all(r["kind"] == "ExecCredential" for r in requests[-2:])


def test_kubeconfig_split_over_files_in_KUBECONFIG_is_merged_as_kubectl_merges(
    tmp_path: Path, residency_name: str, control_plane: ControlPlane
) -> None:
    cluster, user = _admin(control_plane)
    # The context in the first file, the cluster and user in the second; the second also names
    # the same context (and its own current-context) pointing nowhere: the first file wins.
    nowhere = {**cluster, "server": "https://127.0.0.1:9"}
    contexts = _write_kubeconfig(
        tmp_path / "contexts.yaml", contexts={"sandbox": ("sandbox", "admin")}, current="sandbox"
    )
    credentials = _write_kubeconfig(
        tmp_path / "credentials.yaml",
        clusters={"sandbox": cluster, "nowhere": nowhere},
        users={"admin": user},
        contexts={"sandbox": ("nowhere", "admin"), "nowhere": ("nowhere", "admin")},
        current="nowhere",
    )
    merged = f"{contexts}{os.pathsep}{credentials}"
    spec = write_spec(tmp_path, residency_name)

    applied = run_labsctl("apply", spec, "-o", "json", env={"KUBECONFIG": merged})
    # Plain ansible-playbook, no context given: the modules pick the current context themselves.
    inventory = write_inventory(tmp_path, [spec])
    checked = run_playbook("bootstrap.yml", inventory, Path(merged), "--check")

    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["residencies"][0]["counts"]["created"] > 0
    assert checked.rc == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    actions = {entry["action"] for entry in checked.applied(residency_name)}
    assert actions == {"unchanged"}


def test_in_cluster_service_account_applies_reports_and_tears_down_expired_without_kubeconfig(
    tmp_path: Path,
    residency_name: str,
    control_plane: ControlPlane,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
) -> None:
    core = client.CoreV1Api(k8s)
    namespace, account = f"{residency_name}-ops", "labsctl-nightly"
    expired, current = residency_name, f"{residency_name}-now"
    today = dt.date.today()

    def dates(start: int, end: int, archive: int) -> Any:
        def mutate(data: dict[str, Any]) -> None:
            data["spec"]["dates"] = {
                key: (today + dt.timedelta(days=days)).isoformat()
                for key, days in (("start", start), ("end", end), ("archive", archive))
            }

        return mutate

    specs = [
        write_spec(tmp_path, expired, mutate=dates(-90, -60, -1)),
        write_spec(tmp_path, current, mutate=dates(-5, 30, 60)),
    ]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
        )
        rbac = run_labsctl("rbac", "--service-account", f"{namespace}/{account}", env={})
        assert rbac.returncode == 0, rbac.stderr
        _kubectl(admin_kubeconfig, "apply", "-f", "-", stdin=rbac.stdout)
        token = core.create_namespaced_service_account_token(
            account,
            namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(
                    audiences=["https://kubernetes.default.svc.cluster.local"],
                    expiration_seconds=3600,
                )
            ),
        ).status.token
        mount = tmp_path / "serviceaccount"
        mount.mkdir()
        (mount / "token").write_text(token)
        shutil.copy(control_plane.certs / "ca.crt", mount / "ca.crt")
        (mount / "namespace").write_text(namespace)
        home = tmp_path / "home"  # no ~/.kube/config, no KUBECONFIG: only the pod's identity
        home.mkdir()
        assert control_plane.state is not None
        pod = {
            "HOME": str(home),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(control_plane.state.api_port),
            "LABSCTL_SERVICEACCOUNT_DIR": str(mount),
        }

        applied = run_labsctl("apply", *specs, env=pod)
        assert applied.returncode == 0, applied.stderr
        report = run_labsctl("status", "--all", "-o", "json", env=pod)
        assert report.returncode == 0, report.stderr
        listed = {r["name"]: r["phase"] for r in json.loads(report.stdout)["residencies"]}
        assert listed[expired] == "expired" and listed[current] != "expired"
        nightly = run_labsctl("teardown", "--expired", "--yes", "--no-backup", env=pod)
        assert nightly.returncode == 0, nightly.stderr
        assert _namespaces(k8s, expired) == {}
        assert len(_namespaces(k8s, current)) == 3
        # The modules alone, in a pod: plain ansible-playbook with no kubeconfig at all.
        inventory = write_inventory(tmp_path, [specs[1]])
        checked = run_playbook(
            "bootstrap.yml", inventory, Path(), "--check", env={**pod, "K8S_AUTH_KUBECONFIG": ""}
        )
        assert checked.rc == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
        assert {e["action"] for e in checked.applied(current)} == {"unchanged"}
    finally:
        _delete_residencies(k8s, current)
        _remove_bootstrapper_rbac(admin_kubeconfig)
        core.delete_namespace(namespace)


def test_as_impersonates_on_both_sides_forbidden_without_rights_working_with_labsctl_rbac(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    spec = write_spec(tmp_path, residency_name)
    admin = {"LABSCTL_KUBECONFIG": str(admin_kubeconfig)}
    nobody = f"nobody-{residency_name}"
    bootstrapper, group = f"bootstrapper-{residency_name}", f"bootstrappers-{residency_name}"

    # Python side first (the lock namespace), then the modules (a plan takes no lock).
    denied = run_labsctl("apply", spec, "--as", nobody, env=admin)
    assert denied.returncode == 3, denied.stderr
    assert "forbidden" in denied.stderr and nobody in denied.stderr
    refused = run_labsctl("plan", spec, "--as", nobody, "-o", "json", env=admin)
    assert refused.returncode == 3, refused.stderr  # forbidden, in the modules too
    messages = " ".join(
        f["message"] for f in json.loads(refused.stdout)["residencies"][0]["failures"]
    )
    assert nobody in messages

    rbac = run_labsctl("rbac", "--user", bootstrapper, env={})
    assert rbac.returncode == 0, rbac.stderr
    documents = list(yaml.safe_load_all(rbac.stdout))
    for document in documents:  # the same rights for a group, to impersonate groups too
        if document["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            document["subjects"].append(
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}
            )
    _kubectl(admin_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    try:
        granted = run_labsctl("apply", spec, "--as", bootstrapper, env=admin)
        assert granted.returncode == 0, granted.stderr
        # Every group reaches the server, each in its own Impersonate-Group header.
        as_member = {
            **admin,
            "LABSCTL_AS": f"member-{residency_name}",
            "LABSCTL_AS_GROUP": f"others-{residency_name} {group}",
        }
        planned = run_labsctl("plan", spec, env=as_member)
        assert planned.returncode == 0, planned.stdout + planned.stderr
    finally:
        _remove_bootstrapper_rbac(admin_kubeconfig)


def test_kubeconfig_user_as_impersonates_on_both_sides(
    tmp_path: Path, residency_name: str, control_plane: ControlPlane
) -> None:
    cluster, user = _admin(control_plane)
    nobody = f"nobody-{residency_name}"
    kubeconfig = _write_kubeconfig(
        tmp_path / "as.kubeconfig",
        clusters={"sandbox": cluster},
        users={"admin-as-nobody": {**user, "as": nobody, "as-groups": ["nobodies"]}},
        contexts={"sandbox": ("sandbox", "admin-as-nobody")},
        current="sandbox",
    )
    spec = write_spec(tmp_path, residency_name)
    env = {"LABSCTL_KUBECONFIG": str(kubeconfig)}

    report = run_labsctl("status", "--all", env=env)
    refused = run_labsctl("plan", spec, "-o", "json", env=env)

    assert report.returncode == 3, report.stderr
    assert "forbidden" in report.stderr and nobody in report.stderr
    assert refused.returncode == 3, refused.stderr  # forbidden, in the modules too
    messages = " ".join(
        f["message"] for f in json.loads(refused.stdout)["residencies"][0]["failures"]
    )
    assert nobody in messages


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy on a free port that counts the tunnels it opened."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.tunnels = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Tunnel(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = self.rfile.readline().decode()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        method, target, _ = request.split(" ", 2)
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        assert isinstance(self.server, _ConnectProxy)
        self.server.tunnels += 1
        with socket.create_connection((host, int(port))) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            sockets = [self.connection, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.connection else self.connection).sendall(data)


@pytest.fixture
def proxy() -> Iterator[_ConnectProxy]:
    server = _ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_proxy_url_and_tls_server_name_are_honoured_by_both_sides(
    tmp_path: Path, control_plane: ControlPlane, proxy: _ConnectProxy
) -> None:
    cluster, user = _admin(control_plane)

    def kubeconfig(name: str, **extra: str) -> Path:
        return _write_kubeconfig(
            tmp_path / f"{name}.kubeconfig",
            clusters={"sandbox": {**cluster, **extra}},
            users={"admin": user},
            contexts={"sandbox": ("sandbox", "admin")},
            current="sandbox",
        )

    # The serving certificate names kubernetes.default.svc (and 127.0.0.1), not elsewhere.example.
    proxied = kubeconfig("proxied", **{"proxy-url": proxy.url})
    named = kubeconfig("named", **{"tls-server-name": "kubernetes.default.svc"})
    misnamed = kubeconfig("misnamed", **{"tls-server-name": "elsewhere.example"})

    assert Cluster(resolve_target(proxied)).version().startswith("v")
    python_tunnels = proxy.tunnels
    assert connect(str(proxied)).request("GET", "/version")["gitVersion"].startswith("v")
    assert python_tunnels >= 1 and proxy.tunnels > python_tunnels

    assert Cluster(resolve_target(named)).version().startswith("v")
    assert connect(str(named)).request("GET", "/version")["gitVersion"].startswith("v")
    with pytest.raises(ClusterError, match=r"elsewhere\.example"):
        Cluster(resolve_target(misnamed)).version()
    with pytest.raises(ClientError, match=r"elsewhere\.example"):
        connect(str(misnamed)).request("GET", "/version")


def test_two_residencies_on_two_sandboxes_from_one_inventory_and_from_one_apply(
    tmp_path: Path,
    residency_name: str,
    control_planes: ControlPlanes,
    k8s: client.ApiClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, two = control_planes.get("openshift"), control_planes.get("kubernetes")
    k8s_two = api_client(two.admin_kubeconfig)
    first, second = residency_name, f"{residency_name}-b"
    try:
        # One inventory, one ansible-playbook run; each residency names its kubeconfig.
        specs = [write_spec(tmp_path, first), write_spec(tmp_path, second)]
        inventory = write_inventory(tmp_path, specs)
        for name, plane in ((first, one), (second, two)):
            with (inventory / "host_vars" / f"{name}.yml").open("a") as handle:
                handle.write(f"labsctl_kubeconfig: {plane.admin_kubeconfig}\n")
        played = run_playbook("bootstrap.yml", inventory, one.admin_kubeconfig)
        assert played.rc == 0, played.stdout[-3000:] + played.stderr[-2000:]
        assert (len(_namespaces(k8s, first)), len(_namespaces(k8s, second))) == (3, 0)
        assert (len(_namespaces(k8s_two, first)), len(_namespaces(k8s_two, second))) == (0, 3)

        # One labsctl apply; each spec names its context of one kubeconfig (the operator allows
        # both). The second drops a stage: pruning must find it on its own cluster.
        (cluster_one, user_one), (cluster_two, user_two) = _admin(one), _admin(two)
        both = _write_kubeconfig(
            tmp_path / "both.kubeconfig",
            clusters={"one": cluster_one, "two": cluster_two},
            users={"admin-one": user_one, "admin-two": user_two},
            contexts={"one": ("one", "admin-one"), "two": ("two", "admin-two")},
            current="one",
        )

        def on(context: str, stages: list[str] | None = None) -> Any:
            def mutate(data: dict[str, Any]) -> None:
                data["spec"]["cluster"] = {"context": context}
                if stages:
                    data["spec"]["stages"] = [{"name": s} for s in stages]

            return mutate

        (tmp_path / "contexts").mkdir()
        specs = [
            write_spec(tmp_path / "contexts", first, mutate=on("one")),
            write_spec(tmp_path / "contexts", second, mutate=on("two", ["ci-cd", "dev"])),
        ]
        operator = {"LABSCTL_KUBECONFIG": str(both), "LABSCTL_ALLOWED_CONTEXTS": "one,two"}
        applied = run_labsctl("apply", *specs, "-o", "json", env=operator)
        assert applied.returncode == 0, applied.stderr
        counts = {r["name"]: r["counts"] for r in json.loads(applied.stdout)["residencies"]}
        assert counts[first]["created"] == counts[first]["pruned"] == 0
        assert counts[second]["created"] == 0 and counts[second]["pruned"] >= 1
        assert wait_for(lambda: len(_namespaces(k8s_two, second)) == 2)
        assert (len(_namespaces(k8s, first)), len(_namespaces(k8s, second))) == (3, 0)
        assert len(_namespaces(k8s_two, first)) == 0

        # status looks each residency up where apply put it.
        monkeypatch.setenv("LABSCTL_ALLOWED_CONTEXTS", "one,two")
        found = residencies_of(load_specs(list(specs)), resolve_target(both))
        assert sorted((s.name, len(s.stages)) for s in found) == [(first, 3), (second, 2)]
    finally:
        _delete_residencies(k8s_two, first, second)
        _delete_residencies(k8s, second)
