"""Access to the cluster: kubeconfig resolution, one client, and errors that say what to do.

The only module of labsctl that imports the Kubernetes client. Kubeconfig order: the flag,
LABSCTL_KUBECONFIG, KUBECONFIG (first entry), ~/.kube/config; context: the flag,
LABSCTL_CONTEXT, the kubeconfig's current context.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from labsctl.errors import ClusterError, ConflictError, LabsctlError

_TIMEOUT = 15


@dataclass(frozen=True)
class Target:
    """Which cluster to talk to, as the flags and environment say."""

    kubeconfig: Path
    context: str | None = None

    def ansible_env(self) -> dict[str, str]:
        env = {"K8S_AUTH_KUBECONFIG": str(self.kubeconfig)}
        if self.context:
            env["K8S_AUTH_CONTEXT"] = self.context
        return env


def resolve_target(kubeconfig: str | Path | None = None, context: str | None = None) -> Target:
    candidates = [
        ("--kubeconfig", str(kubeconfig) if kubeconfig else None),
        ("LABSCTL_KUBECONFIG", os.environ.get("LABSCTL_KUBECONFIG")),
        ("KUBECONFIG", (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or None),
        ("~/.kube/config", str(Path.home() / ".kube" / "config")),
    ]
    for source, value in candidates:
        if not value:
            continue
        path = Path(value).expanduser()
        if path.is_file():
            return Target(path, context or os.environ.get("LABSCTL_CONTEXT") or None)
        if source != "~/.kube/config":
            raise ClusterError(
                f"the kubeconfig {path} (from {source}) does not exist",
                hint="check the path, or use --sandbox for the local cluster",
            )
    raise ClusterError(
        "no kubeconfig found",
        hint="use --kubeconfig or LABSCTL_KUBECONFIG, or --sandbox to run on the "
        "local sandbox cluster",
    )


def describe_api_error(exc: ApiException, what: str) -> LabsctlError:
    """One sentence for an API error, with the exit code of its kind."""
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except ValueError:
        message = exc.reason
    if exc.status in (401, 403):
        return ClusterError(
            f"{what}: forbidden ({message})",
            hint="the identity in the kubeconfig lacks rights; `labsctl rbac` prints what the "
            "bootstrapper needs",
        )
    if exc.status == 409:
        return ConflictError(f"{what}: conflict ({message})")
    return ClusterError(f"{what}: {message} (HTTP {exc.status})")


class Cluster:
    """One API client for one target; every call goes through `call` for uniform errors."""

    def __init__(self, target: Target) -> None:
        self.target = target
        try:
            self.api = config.new_client_from_config(
                config_file=str(target.kubeconfig), context=target.context
            )
        except (ConfigException, OSError, ValueError, KeyError) as exc:
            raise ClusterError(
                f"cannot use the kubeconfig {target.kubeconfig}: {exc}",
                hint="check --kubeconfig and --context",
            ) from exc
        self.server = self.api.configuration.host
        self._dynamic: dynamic.DynamicClient | None = None

    @contextlib.contextmanager
    def calls(self, what: str) -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            if exc.status == 0:
                raise self._unreachable(exc) from exc
            raise describe_api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: Exception) -> ClusterError:
        reason = getattr(exc, "reason", None) or exc
        return ClusterError(
            f"cannot reach the API server at {self.server}: {reason}",
            hint="is the cluster up? `labsctl sandbox status` for the sandbox",
        )

    def version(self) -> str:
        with self.calls("reading the server version"):
            info = client.VersionApi(self.api).get_code(_request_timeout=_TIMEOUT)
        return str(info.git_version)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        if self._dynamic is None:
            with self.calls("discovering the cluster's APIs"):
                self._dynamic = dynamic.DynamicClient(self.api)
        return self._dynamic

    def served(self, api_version: str, kind: str) -> Any | None:
        """The dynamic resource for a kind, or None when the cluster does not serve it."""
        try:
            with self.calls(f"discovering {api_version} {kind}"):
                return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None

    def list_owned(self, api_version: str, kind: str, selector: str) -> list[dict[str, Any]]:
        resource = self.served(api_version, kind)
        if resource is None:
            return []
        with self.calls(f"listing {kind} objects"):
            listing = resource.get(label_selector=selector)
        return [item.to_dict() for item in listing.items]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> None:
        resource = self.served(api_version, kind)
        if resource is None:
            return
        with self.calls(f"deleting {kind} {name}"):
            try:
                resource.delete(name=name, namespace=namespace)
            except ApiException as exc:
                if exc.status != 404:  # already gone is what we wanted
                    raise
