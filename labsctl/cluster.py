"""Access to the cluster: where it is and as whom, resolved once, one client, readable errors.

The only module of labsctl that imports the Kubernetes client. The target is resolved once per
run (`resolve_target`) and per residency (`Target.for_context`), then used by the Python side
(`Cluster`) and handed to the Ansible run (`Target.ansible_env`), so both talk to the same cluster
as the same identity.

Kubeconfig order: `--kubeconfig`, `LABSCTL_KUBECONFIG`, `KUBECONFIG` (every entry, merged as
kubectl does: the first file to name a cluster, user or context wins, and so does the first
`current-context`), `~/.kube/config`; without any, the in-cluster ServiceAccount
(`KUBERNETES_SERVICE_HOST`/`_PORT`, the token and CA under `LABSCTL_SERVICEACCOUNT_DIR`, by default
the standard mount). Context: `--context`, `LABSCTL_CONTEXT`, the current context; a residency's
`spec.cluster.context` replaces it for that residency. Impersonation: `--as`/`--as-group`
(`LABSCTL_AS`, `LABSCTL_AS_GROUP`), else the kubeconfig user's `as`/`as-groups`. Request timeout:
`--request-timeout`, `LABSCTL_REQUEST_TIMEOUT`, 30 s; every call of the client follows it
(`labsctl.timeouts`), and the Ansible run gets it as LABSCTL_REQUEST_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import urllib3
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigMerger
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from labsctl import naming, restclient, timeouts
from labsctl.errors import ClusterError, ConflictError, LabsctlError, UnreachableError, UsageError

SERVICEACCOUNT_DIR_ENV = "LABSCTL_SERVICEACCOUNT_DIR"
DEFAULT_SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Target:
    """Which cluster to talk to, and as whom: kubeconfig files and context, or in-cluster."""

    kubeconfigs: tuple[Path, ...] = ()  # merged in this order; empty when in-cluster
    context: str | None = None
    service_account_dir: Path | None = None  # set when in-cluster
    server: str | None = None  # the in-cluster API server
    impersonate_user: str | None = None  # --as; else the kubeconfig user's `as`
    impersonate_groups: tuple[str, ...] = ()
    request_timeout: float = timeouts.DEFAULT_REQUEST_TIMEOUT  # seconds; 0: no timeout

    @property
    def in_cluster(self) -> bool:
        return not self.kubeconfigs

    @property
    def kubeconfig(self) -> str | None:
        """The kubeconfig files as KUBECONFIG holds them (os.pathsep-joined)."""
        return os.pathsep.join(map(str, self.kubeconfigs)) or None

    def describe(self) -> str:
        if self.in_cluster:
            return f"the in-cluster ServiceAccount ({self.service_account_dir})"
        return f"the kubeconfig {self.kubeconfig}, context {self.context}"

    def for_context(self, context: str | None, residency: str) -> Target:
        """The target of a residency: its `spec.cluster.context`, when set, replaces ours."""
        if context is None or context == self.context:
            return self
        if self.in_cluster:
            raise ClusterError(
                f"residency {residency} asks for the kubeconfig context {context} "
                "(spec.cluster.context), but labsctl runs in-cluster, with no kubeconfig",
                hint="give a kubeconfig that holds that context (--kubeconfig), or run the "
                "residency without spec.cluster.context",
            )
        return dataclasses.replace(self, context=context)

    def ansible_env(self, scratch: Path) -> dict[str, str]:
        """Environment of the Ansible run: kubernetes.core's K8S_AUTH_* names, read by
        labsctl.residency's modules too. In-cluster, a kubeconfig written to `scratch` points at
        the ServiceAccount's token and CA files (no secret is copied), so every module reads the
        same mount, wherever LABSCTL_SERVICEACCOUNT_DIR puts it."""
        env: dict[str, str] = {}
        if self.in_cluster:
            assert self.service_account_dir is not None and self.server is not None
            path = scratch / "in-cluster.kubeconfig"
            path.write_text(yaml.safe_dump(_in_cluster_kubeconfig(self)), encoding="utf-8")
            path.chmod(0o600)
            env["K8S_AUTH_KUBECONFIG"] = str(path)
            env["K8S_AUTH_CONTEXT"] = "in-cluster"
            env[SERVICEACCOUNT_DIR_ENV] = str(self.service_account_dir)
        else:
            env["K8S_AUTH_KUBECONFIG"] = self.kubeconfig or ""
            if self.context:
                env["K8S_AUTH_CONTEXT"] = self.context
        # Always set (empty: none), so a value in the caller's environment cannot slip in;
        # kubernetes.core splits the groups on commas.
        env["K8S_AUTH_IMPERSONATE_USER"] = self.impersonate_user or ""
        env["K8S_AUTH_IMPERSONATE_GROUPS"] = ",".join(self.impersonate_groups)
        env[timeouts.REQUEST_TIMEOUT_ENV] = timeouts.format_duration(self.request_timeout)
        return env


def _in_cluster_kubeconfig(target: Target) -> dict[str, Any]:
    assert target.service_account_dir is not None
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "in-cluster",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {
                    "server": target.server,
                    "certificate-authority": str(target.service_account_dir / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": "service-account",
                "user": {"tokenFile": str(target.service_account_dir / "token")},
            }
        ],
        "contexts": [
            {"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account"}}
        ],
    }


def resolve_target(
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    *,
    impersonate_user: str | None = None,
    impersonate_groups: tuple[str, ...] | list[str] = (),
    request_timeout: float | None = None,
) -> Target:
    """The target the flags and environment name (see the module's docstring for the order);
    `request_timeout` in seconds (0: none), by default from LABSCTL_REQUEST_TIMEOUT, else 30."""
    request_timeout = _request_timeout(request_timeout)
    user = impersonate_user or os.environ.get("LABSCTL_AS") or None
    groups = tuple(impersonate_groups) or tuple(os.environ.get("LABSCTL_AS_GROUP", "").split())
    if groups and not user:
        raise UsageError(
            "--as-group needs --as: Kubernetes impersonates groups only together with a user"
        )
    if any("," in group for group in groups):
        raise UsageError(
            "an --as-group name holds a comma, which the Ansible modules read as a separator"
        )
    context = context or os.environ.get("LABSCTL_CONTEXT") or None
    files = _kubeconfig_files(kubeconfig)
    if files:
        return Target(
            files,
            context or _current_context(files),
            impersonate_user=user,
            impersonate_groups=groups,
            request_timeout=request_timeout,
        )
    in_cluster = _in_cluster()
    if in_cluster is None:
        raise ClusterError(
            "no kubeconfig found, and not running in a pod",
            hint="use --kubeconfig or LABSCTL_KUBECONFIG, or --sandbox to run on the local "
            "sandbox cluster; in a pod, labsctl uses its ServiceAccount",
        )
    if context:
        raise UsageError(
            f"--context {context} needs a kubeconfig; in-cluster there is only the ServiceAccount",
            hint="leave --context and LABSCTL_CONTEXT out, or give --kubeconfig",
        )
    directory, server = in_cluster
    return Target(
        service_account_dir=directory,
        server=server,
        impersonate_user=user,
        impersonate_groups=groups,
        request_timeout=request_timeout,
    )


def _request_timeout(seconds: float | None) -> float:
    if seconds is None:
        text = os.environ.get(timeouts.REQUEST_TIMEOUT_ENV)
        if not text:
            return timeouts.DEFAULT_REQUEST_TIMEOUT
        try:
            seconds = timeouts.parse_duration(text)
        except ValueError as exc:
            raise UsageError(f"{timeouts.REQUEST_TIMEOUT_ENV}: {exc}") from exc
    if seconds < 0:
        raise UsageError(f"the request timeout must not be negative (got {seconds})")
    return float(seconds)


def _kubeconfig_files(explicit: str | Path | None) -> tuple[Path, ...]:
    for source, value in (
        ("--kubeconfig", str(explicit) if explicit else None),
        ("LABSCTL_KUBECONFIG", os.environ.get("LABSCTL_KUBECONFIG")),
    ):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ClusterError(
                    f"the kubeconfig {path} (from {source}) does not exist",
                    hint="check the path, or use --sandbox for the local cluster",
                )
            return (path,)
    listed = [Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:  # as kubectl: entries that do not exist are skipped, not all of them
        present = tuple(dict.fromkeys(p for p in listed if p.is_file()))
        if not present:
            raise ClusterError(
                "none of the kubeconfig files in KUBECONFIG exists: " + ", ".join(map(str, listed)),
                hint="check KUBECONFIG, or use --kubeconfig",
            )
        return present
    default = Path.home() / ".kube" / "config"
    return (default,) if default.is_file() else ()


def _merged(files: tuple[Path, ...]) -> KubeConfigMerger:
    try:
        return KubeConfigMerger(os.pathsep.join(map(str, files)))
    except (ConfigException, OSError, yaml.YAMLError) as exc:
        raise ClusterError(
            f"cannot read the kubeconfig {os.pathsep.join(map(str, files))}: {exc}",
            hint="check that each file is a kubeconfig (kubectl config view)",
        ) from exc


def _current_context(files: tuple[Path, ...]) -> str | None:
    """kubectl's rule: the first file that sets `current-context` wins (the kubernetes package
    lets the last one win)."""
    merger = _merged(files)
    for path in merger.paths:
        current = (merger.config_files[path] or {}).get("current-context")
        if current:
            return str(current)
    return None


def _kubeconfig_user(target: Target) -> dict[str, Any]:
    """The user entry of the target's context, as merged (for its `as` and `as-groups`)."""
    merged = _merged(target.kubeconfigs).config
    try:
        context = merged["contexts"].get_with_name(target.context)["context"]
        name = context.safe_get("user")
        entry = merged["users"].get_with_name(name, safe=True) if name else None
    except ConfigException:
        return {}  # reported by the client's own loader, with its wording
    return dict(entry["user"].value) if entry else {}


def _in_cluster() -> tuple[Path, str] | None:
    """The ServiceAccount mount and API server when running in a pod (or a test's stand-in)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    directory = Path(os.environ.get(SERVICEACCOUNT_DIR_ENV) or DEFAULT_SERVICEACCOUNT_DIR)
    for name in ("token", "ca.crt"):
        if not (directory / name).is_file():
            raise ClusterError(
                f"running in a pod (KUBERNETES_SERVICE_HOST is set), but the ServiceAccount's "
                f"{name} is missing from {directory}",
                hint="mount the ServiceAccount token (automountServiceAccountToken), point "
                f"{SERVICEACCOUNT_DIR_ENV} at its directory, or give --kubeconfig",
            )
    return directory, f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


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


class _Impersonating:
    """The client's urllib3 pool, adding Impersonate-User and one Impersonate-Group header per
    group to every request (the kubernetes client keeps headers in a dict: one value a name)."""

    def __init__(self, pool: urllib3.PoolManager, user: str, groups: tuple[str, ...]) -> None:
        self._pool = pool
        self._user = user
        self._groups = groups

    def request(self, method: str, url: str, *args: Any, headers: Any = None, **kwargs: Any) -> Any:
        merged = urllib3.HTTPHeaderDict(headers or {})
        merged["Impersonate-User"] = self._user
        for group in self._groups:
            merged.add("Impersonate-Group", group)
        return self._pool.request(method, url, headers=merged, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


MANAGED_BY_LABEL = naming.LABEL_MANAGED_BY
MANAGER = naming.MANAGER


def _equalities(selector: str) -> dict[str, str] | None:
    """`a=b,c=d` as {a: b, c: d}; None for any other selector (set-based, `!=`, `!x`)."""
    pairs: dict[str, str] = {}
    for part in selector.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key or any(c in key + value for c in "!=()<> "):
            return None
        pairs[key] = value
    return pairs


class Cluster:
    """One API client for one target; every call goes through `call` for uniform errors."""

    def __init__(self, target: Target) -> None:
        self.target = target
        try:
            if target.in_cluster:
                assert target.service_account_dir is not None
                configuration = client.Configuration()
                InClusterConfigLoader(
                    token_filename=str(target.service_account_dir / "token"),
                    cert_filename=str(target.service_account_dir / "ca.crt"),
                ).load_and_set(configuration)
                self.api = client.ApiClient(configuration)
                user: dict[str, Any] = {}
            else:
                self.api = config.new_client_from_config(
                    config_file=target.kubeconfig, context=target.context
                )
                user = _kubeconfig_user(target)
        except (ConfigException, OSError, ValueError, KeyError) as exc:
            raise ClusterError(
                f"cannot use {target.describe()}: {exc}",
                hint="check --kubeconfig and --context (kubectl config get-contexts)",
            ) from exc
        # The flags win over the kubeconfig user's own `as`, as with kubectl.
        as_user = target.impersonate_user or user.get("as")
        as_groups = target.impersonate_groups if target.impersonate_user else user.get("as-groups")
        if as_user:
            rest = self.api.rest_client
            rest.pool_manager = cast(
                urllib3.PoolManager,
                _Impersonating(rest.pool_manager, str(as_user), tuple(as_groups or ())),
            )
        # Every request, the dynamic client's discovery included, waits at most the request
        # timeout for each step and the policy's deadline in all.
        self.api.rest_client.pool_manager = cast(
            urllib3.PoolManager,
            timeouts.BoundedPool(
                self.api.rest_client.pool_manager, timeouts.RequestPolicy(target.request_timeout)
            ),
        )
        self.server = self.api.configuration.host
        self._dynamic: dynamic.DynamicClient | None = None
        self._rest: Any = None
        # (apiVersion, kind) -> every object labsctl manages of that kind (`prefetch_owned`)
        self._owned: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @property
    def rest(self) -> Any:
        """The collection's REST client for the same target, for the safety steps labsctl
        shares with the playbooks (`labsctl.collection`); failures through `rest_calls`."""
        if self._rest is None:
            self._rest = restclient.connect(self.target)
        return self._rest

    def rest_calls(self, what: str) -> contextlib.AbstractContextManager[None]:
        return restclient.calls(self.server, what)

    @contextlib.contextmanager
    def calls(self, what: str) -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            if exc.status == 0:
                raise self._unreachable(exc, what) from exc
            raise describe_api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(exc, what) from exc

    def _unreachable(self, exc: Exception, what: str) -> ClusterError:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(exc, timeouts.NoAnswer):
            return UnreachableError(
                f"the API server at {self.server} did not answer ({what}): {reason}",
                hint="is the cluster up and not overloaded? `labsctl sandbox status` for the "
                "sandbox; --request-timeout (LABSCTL_REQUEST_TIMEOUT) sets how long to wait",
            )
        return UnreachableError(
            f"cannot reach the API server at {self.server} ({what}): {reason}",
            hint="is the cluster up? `labsctl sandbox status` for the sandbox",
        )

    def version(self) -> str:
        with self.calls("reading the server version"):
            info = client.VersionApi(self.api).get_code()
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

    def prefetch_owned(self, kinds: list[tuple[str, str]]) -> None:
        """One LIST per kind of everything labsctl manages, for the whole fleet: `list_owned`
        then answers selectors within it from memory (a report on 50 residencies makes one
        request per kind, not one per kind per residency)."""
        for api_version, kind in kinds:
            self._owned[(api_version, kind)] = self._listed(
                api_version, kind, f"{MANAGED_BY_LABEL}={MANAGER}"
            )

    def list_owned(self, api_version: str, kind: str, selector: str) -> list[dict[str, Any]]:
        cached = self._owned.get((api_version, kind))
        wanted = _equalities(selector)
        if cached is not None and wanted is not None and wanted.get(MANAGED_BY_LABEL) == MANAGER:
            return [
                item
                for item in cached
                if all(
                    ((item.get("metadata") or {}).get("labels") or {}).get(key) == value
                    for key, value in wanted.items()
                )
            ]
        return self._listed(api_version, kind, selector)

    def _listed(self, api_version: str, kind: str, selector: str) -> list[dict[str, Any]]:
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
