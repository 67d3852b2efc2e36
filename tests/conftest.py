"""Fixtures shared by all tests.

Integration tests run against a real control plane (etcd, kube-apiserver, kube-controller-manager
built from the Kubernetes sources); one per flavour per test session, started on first use and
stopped at the end. Its processes die with the test process even when it is killed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from labsctl import naming
from labsctl.sandbox.build import ensure_binaries
from labsctl.sandbox.controlplane import ControlPlane
from labsctl.sandbox.service import install_flavour

REPO = Path(__file__).resolve().parent.parent
# The OpenShift example names a Git token in spec.secrets; tests give it a value of their own
# (write_spec does the same for the variables of renamed residencies).
os.environ.setdefault("MOBILE_BANKING_GIT_TOKEN", "test-token-not-a-secret")
os.environ.setdefault("MOBILE_BANKING_WEBHOOK_SECRET", "test-webhook-secret-not-a-secret")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


class ControlPlanes:
    """Session-wide control planes, one per flavour, started lazily."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: dict[str, ControlPlane] = {}

    def get(self, flavour: str) -> ControlPlane:
        if flavour not in self.started:
            binaries = ensure_binaries()
            plane = ControlPlane(self.base / flavour, flavour, binaries=binaries)
            plane.start()
            try:
                install_flavour(plane, binaries)
            except BaseException:
                plane.stop()
                raise
            self.started[flavour] = plane
        return self.started[flavour]

    def stop_all(self) -> None:
        for plane in self.started.values():
            plane.stop()
        self.started.clear()


@pytest.fixture(scope="session")
def control_planes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlanes]:
    planes = ControlPlanes(tmp_path_factory.mktemp("controlplanes"))
    try:
        yield planes
    finally:
        planes.stop_all()


@pytest.fixture(scope="session")
def control_plane(control_planes: ControlPlanes) -> ControlPlane:
    """The OpenShift-like control plane: every CRD labsctl knows is served."""
    return control_planes.get("openshift")


@pytest.fixture(scope="session")
def admin_kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.admin_kubeconfig


@pytest.fixture(scope="session")
def limited_kubeconfig(control_plane: ControlPlane) -> Path:
    """A user who is not cluster-admin: its own name and group, no bindings of its own."""
    return control_plane.user_kubeconfig("limited-user", ("labsctl-test-limited",))


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture(scope="session")
def k8s(admin_kubeconfig: Path) -> client.ApiClient:
    return api_client(admin_kubeconfig)


def lease_exists(k8s: client.ApiClient, residency: str) -> bool:
    """Whether residency `residency`'s lock (its Lease in labsctl-system) is on the cluster."""
    try:
        client.CoordinationV1Api(k8s).read_namespaced_lease(
            f"labsctl-{residency}", naming.LOCK_NAMESPACE
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def residency_name(k8s: client.ApiClient) -> Iterator[str]:
    """A residency name unique to this test; everything it owns is deleted afterwards."""
    name = f"t-{secrets.token_hex(4)}"
    yield name
    delete_residency(k8s, name)


def delete_residency(k8s: client.ApiClient, name: str) -> None:
    """Everything residency `name` owns, deleted without waiting: its namespaces, its Argo CD
    objects and repository secrets, its OpenShift groups, its listener's cluster role."""
    selector = naming.owner_selector(name)
    core = client.CoreV1Api(k8s)
    for ns in core.list_namespace(label_selector=selector).items:
        _ignore_missing(core.delete_namespace, ns.metadata.name)
    custom = client.CustomObjectsApi(k8s)
    for namespace in ("openshift-gitops", "argocd"):
        for plural in ("applications", "appprojects"):
            _ignore_missing(
                custom.delete_collection_namespaced_custom_object,
                "argoproj.io",
                "v1alpha1",
                namespace,
                plural,
                label_selector=selector,
            )
        _ignore_missing(
            core.delete_collection_namespaced_secret, namespace, label_selector=selector
        )
    _ignore_missing(
        custom.delete_collection_cluster_custom_object,
        "user.openshift.io",
        "v1",
        "groups",
        label_selector=selector,
    )
    rbac = client.RbacAuthorizationV1Api(k8s)
    _ignore_missing(rbac.delete_collection_cluster_role_binding, label_selector=selector)
    _ignore_missing(rbac.delete_collection_cluster_role, label_selector=selector)


def _ignore_missing(call: Callable[..., object], *args: object, **kwargs: object) -> None:
    try:
        call(*args, **kwargs)
    except ApiException as exc:
        if exc.status != 404:
            raise


def pytest_report_header() -> list[str]:
    return [f"labsctl cache: {os.environ.get('LABSCTL_CACHE_DIR', '~/.cache/labsctl')}"]
