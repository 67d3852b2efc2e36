# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""A small Kubernetes REST client for labsctl's modules.

Importing the official `kubernetes` package costs about 0.3 s per task, most of a module's run;
this client reads the kubeconfig itself and talks to the API server over one urllib3 pool. It
knows what kubectl users rely on: several files in KUBECONFIG merged as kubectl merges them (the
first file to name a cluster, user or context, or to set current-context, wins), client
certificates, `token` and `tokenFile`, exec credential plugins, `proxy-url`, `tls-server-name`,
impersonation (the user's `as`/`as-groups`, or K8S_AUTH_IMPERSONATE_USER/_GROUPS as labsctl and
kubernetes.core set them), and the in-cluster ServiceAccount (its directory overridable with
LABSCTL_SERVICEACCOUNT_DIR). For kubeconfigs using a legacy `auth-provider`, it hands over to the
official client.

Bounded time, as labsctl's own client (labsctl/timeouts.py, which this cannot import): the request
timeout (the modules' `request_timeout`, else LABSCTL_REQUEST_TIMEOUT, else 30s; 0 for none)
bounds the connection, the TLS handshake and every read; one request, all attempts and waits
included, ends within three times that. A request is tried again (waits of 0.5 s, 1 s, the
server's Retry-After up to 10 s) only when that cannot do a change twice: the connection could
not be opened, a read (GET, HEAD) failed or got 5xx, or the server refused it with 429.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import ssl
import subprocess
import tempfile
import threading
import time
import traceback
from urllib.parse import urlencode

try:
    import urllib3
except ImportError:
    urllib3 = None
    URLLIB3_IMPORT_ERROR = traceback.format_exc()
else:
    URLLIB3_IMPORT_ERROR = None

try:
    import yaml
except ImportError:
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

# The options every module of the collection takes to reach its cluster (doc_fragments/cluster.py
# documents them); `module_defaults: group/labsctl.residency.k8s` sets them once per play.
CLUSTER_ARGUMENT_SPEC = {
    "kubeconfig": {"type": "path"},
    "context": {"type": "str"},
    "request_timeout": {"type": "str"},
}
IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICEACCOUNT_DIR_ENV = "LABSCTL_SERVICEACCOUNT_DIR"
REQUEST_TIMEOUT_ENV = "LABSCTL_REQUEST_TIMEOUT"
DEFAULT_REQUEST_TIMEOUT = 30.0
IDEMPOTENT = ("GET", "HEAD")
RETRY_STATUSES = (500, 502, 503, 504)  # for reads; 429 for any method
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
POOL_SIZE = 16  # connections kept per API server: a batched task sends requests concurrently
_SHARED = {"clients": None}  # {connect's arguments: Client} inside shared_clients()
_SHARED_LOCK = threading.Lock()


def require_libraries(module):
    """Fail `module` naming the missing library when urllib3 or PyYAML cannot be imported."""
    from ansible.module_utils.basic import missing_required_lib  # labsctl imports this file too

    for name, error in (("urllib3", URLLIB3_IMPORT_ERROR), ("PyYAML", YAML_IMPORT_ERROR)):
        if error:
            module.fail_json(msg=missing_required_lib(name), exception=error)


class ClientError(Exception):
    """A request failed; `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message, status=0, reason=""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


def parse_duration(text):
    """Seconds in a duration as kubectl's --request-timeout takes it: `30s`, `1m`, `1m30s`,
    `500ms`, `1.5s`, `2h`, or a plain number of seconds; `0` means no timeout (0.0)."""
    value = str(text).strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    if not value or _PART.sub("", value):
        raise ValueError(
            f"{text!r} is not a duration: give a number with a unit (500ms, 30s, 1m, 1m30s, 1h), "
            "a number of seconds, or 0 for no timeout"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(value))


def request_timeout(value=None):
    """Seconds from the module option, else LABSCTL_REQUEST_TIMEOUT, else 30; 0: no timeout."""
    for source, text in (
        ("request_timeout", value),
        (REQUEST_TIMEOUT_ENV, os.environ.get(REQUEST_TIMEOUT_ENV)),
    ):
        if text not in (None, ""):
            try:
                return parse_duration(text)
            except ValueError as exc:
                raise ClientError(f"{source}: {exc}") from exc
    return DEFAULT_REQUEST_TIMEOUT


class RequestPolicy:
    """How long one request may wait and when it is tried again; `timeout` 0: no limit."""

    def __init__(self, timeout=DEFAULT_REQUEST_TIMEOUT, attempts=3, first_wait=0.5, max_wait=10.0):
        self.timeout = timeout
        self.attempts = attempts
        self.first_wait = first_wait  # doubled after each failed attempt
        self.max_wait = max_wait  # cap on a wait, Retry-After included

    @property
    def deadline(self):
        """The longest one request takes, every attempt and wait included (None: unbounded)."""
        return self.timeout * self.attempts if self.timeout > 0 else None

    def retryable(self, method, status=0, sent=True):
        """Whether a failed attempt may be tried again without risking a change done twice:
        `status` is the HTTP status (0: no answer), `sent` False when no connection was made."""
        if status == 429 or not sent:
            return True
        return method.upper() in IDEMPOTENT and (status == 0 or status in RETRY_STATUSES)

    def wait(self, attempt, elapsed, retry_after=None):
        """Seconds to wait after failed attempt number `attempt` (1 for the first) before the
        next, or None when there is no next: attempts used up, or the deadline would pass."""
        if attempt >= self.attempts:
            return None
        seconds = self.first_wait * 2 ** (attempt - 1)
        if retry_after is not None and retry_after.strip().isdigit():
            seconds = max(seconds, float(retry_after))
        seconds = min(seconds, self.max_wait)
        deadline = self.deadline
        if deadline is not None and elapsed + seconds >= deadline:
            return None
        return seconds

    def attempt_timeout(self, elapsed):
        """(connect, read) of the next attempt: the request timeout, or what is left of the
        deadline when that is less; (None, None) without a timeout."""
        deadline = self.deadline
        if deadline is None:
            return None, None
        seconds = max(min(self.timeout, deadline - elapsed), 0.001)
        return seconds, seconds


def _seconds(value):
    return f"{value:g}s" if value >= 1 else f"{value * 1000:g}ms"


def _kubeconfig_paths(explicit):
    """The kubeconfig files to merge (the option, K8S_AUTH_KUBECONFIG, KUBECONFIG, each a list
    joined with os.pathsep; then ~/.kube/config); empty when there is none (in-cluster)."""
    for candidate in (
        explicit,
        os.environ.get("K8S_AUTH_KUBECONFIG"),
        os.environ.get("KUBECONFIG"),
    ):
        if candidate:
            listed = [os.path.expanduser(p) for p in candidate.split(os.pathsep) if p]
            present = [p for p in dict.fromkeys(listed) if os.path.isfile(p)]
            if not present:  # as kubectl: missing entries are skipped, not all of them
                raise ClientError(
                    f"cannot read the kubeconfig {os.pathsep.join(listed)}: no such file"
                )
            return present
    default = os.path.expanduser("~/.kube/config")
    return [default] if os.path.exists(default) else []


def _merge(paths):
    """kubectl's merge: the first file to name a cluster, user or context, or to set
    current-context, wins. Entries keep the directory of their file, for relative paths."""
    merged = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    for path in paths:
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ClientError(f"cannot read the kubeconfig {path}: {exc}") from exc
        base_dir = os.path.dirname(os.path.abspath(path))
        for section, field in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for item in config.get(section) or []:
                name = item.get("name")
                if name is not None and name not in merged[section]:
                    merged[section][name] = (item.get(field) or {}, base_dir)
        if not merged["current-context"]:
            merged["current-context"] = config.get("current-context")
    return merged


def _named(merged, section, name, paths):
    if name not in merged[section]:
        raise ClientError(
            f"the kubeconfig {os.pathsep.join(paths)} has no {section[:-1]} named {name!r}"
        )
    return merged[section][name]


def _impersonation(user):
    """Who to act as: K8S_AUTH_IMPERSONATE_USER/_GROUPS (labsctl's --as/--as-group), else the
    kubeconfig user's `as` and `as-groups`."""
    name = os.environ.get("K8S_AUTH_IMPERSONATE_USER")
    if name:
        groups = os.environ.get("K8S_AUTH_IMPERSONATE_GROUPS") or ""
        return name, [g for g in groups.split(",") if g]
    return user.get("as"), list(user.get("as-groups") or [])


def _in_cluster(timeout):
    """A client for the pod's ServiceAccount (its directory from LABSCTL_SERVICEACCOUNT_DIR)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ClientError(
            "no kubeconfig found and not in a pod: set K8S_AUTH_KUBECONFIG or KUBECONFIG"
        )
    directory = os.environ.get(SERVICEACCOUNT_DIR_ENV) or IN_CLUSTER_DIR
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return _service_account_client(directory, server, timeout)


def _service_account_client(directory, server, timeout, impersonate=None):
    try:
        with open(os.path.join(directory, "token")) as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise ClientError(f"cannot read the ServiceAccount token in {directory}: {exc}") from exc
    user, groups = _impersonation({}) if impersonate is None else impersonate
    return Client(
        server,
        ca_file=os.path.join(directory, "ca.crt"),
        token=token,
        impersonate_user=user,
        impersonate_groups=groups,
        request_timeout=timeout,
    )


def _material(entry, key, base_dir, workdir):
    """A file path for `key` (`<key>` as a path or `<key>-data` as base64), or None."""
    data = entry.get(f"{key}-data")
    if data:
        path = os.path.join(workdir, key)
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))
        return path
    path = entry.get(key)
    if path:
        return path if os.path.isabs(path) else os.path.join(base_dir, path)
    return None


def _exec_credential(spec, base_dir):
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item["value"]
    # What client-go gives a plugin: the request, and a relative command path resolved
    # against the kubeconfig's directory.
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": spec.get("apiVersion") or "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    program = spec["command"]
    if os.sep in program and not os.path.isabs(program):
        program = os.path.join(base_dir, program)
    command = [program, *(spec.get("args") or [])]
    try:
        output = subprocess.run(
            command, env=env, capture_output=True, check=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClientError(
            f"the kubeconfig's exec credential plugin {spec['command']} failed: {exc}"
        ) from exc
    try:
        return json.loads(output).get("status") or {}
    except (AttributeError, ValueError) as exc:
        raise ClientError(
            f"the kubeconfig's exec credential plugin {spec['command']} printed no "
            f"ExecCredential: {exc}"
        ) from exc


class Client:
    """One connection pool to one API server."""

    def __init__(
        self,
        server,
        ca_file=None,
        cert_file=None,
        key_file=None,
        token=None,
        insecure=False,
        fallback=None,
        proxy_url=None,
        tls_server_name=None,
        impersonate_user=None,
        impersonate_groups=(),
        request_timeout=DEFAULT_REQUEST_TIMEOUT,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        self.server = server.rstrip("/")
        self.fallback = fallback
        self.policy = RequestPolicy(request_timeout)
        self._clock = clock
        self._sleep = sleep
        self.headers = {"Accept": "application/json", "User-Agent": "labsctl"}
        self.discovered = {}  # discovery documents by path, read once per client
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        # Impersonate-Group once per group: a plain dict holds a header name only once.
        self.impersonation = []
        if impersonate_user:
            self.impersonation.append(("Impersonate-User", impersonate_user))
            self.impersonation += [("Impersonate-Group", group) for group in impersonate_groups]
        if fallback is not None:
            return
        context = ssl.create_default_context(cafile=ca_file)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert_file and key_file:
            context.load_cert_chain(cert_file, key_file)
        # timeouts: per request
        options = {"ssl_context": context, "retries": False, "maxsize": POOL_SIZE}
        if tls_server_name and not insecure:  # SNI and the name the certificate must hold
            options.update(server_hostname=tls_server_name, assert_hostname=tls_server_name)
        if not proxy_url:
            self.pool = urllib3.PoolManager(**options)
        elif proxy_url.startswith("socks"):
            try:
                from urllib3.contrib.socks import SOCKSProxyManager
            except ImportError as exc:
                raise ClientError(
                    f"the kubeconfig's proxy-url {proxy_url} needs PySocks: {exc}"
                ) from exc
            self.pool = SOCKSProxyManager(proxy_url, **options)
        else:
            self.pool = urllib3.ProxyManager(proxy_url, **options)

    def _headers(self, extra):
        headers = urllib3.HTTPHeaderDict(extra)
        for name, value in self.impersonation:
            headers.add(name, value)
        return headers

    def request(
        self, method, path, body=None, query=None, content_type="application/json", accept=None
    ):
        """The decoded JSON answer; `accept` replaces the Accept header (aggregated discovery)."""
        if self.fallback is not None:
            return self._fallback_request(method, path, body, query, content_type, accept)
        url = self.server + path
        if query:
            url += "?" + urlencode(query)
        headers = self._headers(self.headers)
        if accept:
            headers["Accept"] = accept
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = json.dumps(body).encode("utf-8")  # JSON is YAML, for apply patches
        response = self._bounded(method, path, url, payload, headers)
        return self._decode(response.status, response.reason, response.data)

    def discovery(self, path):
        """A discovery document (/version, /apis, /apis/<group>/<version>), read once."""
        if path not in self.discovered:
            self.discovered[path] = self.request("GET", path)
        return self.discovered[path]

    def _bounded(self, method, path, url, payload, headers):
        """One request under the policy: every attempt bounded, retried only when safe."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            connect, read = self.policy.attempt_timeout(self._clock() - started)
            try:
                response = self.pool.request(
                    method,
                    url,
                    body=payload,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=connect, read=read),
                )
            except urllib3.exceptions.SSLError as exc:  # asking again does not fix a certificate
                raise ClientError(f"cannot reach the API server at {self.server}: {exc}") from exc
            except urllib3.exceptions.HTTPError as exc:
                # NewConnectionError is a ConnectTimeoutError: either way nothing was sent.
                sent = not isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
                took = self._clock() - started
                wait = self.policy.wait(attempt, took)
                if wait is None or not self.policy.retryable(method, sent=sent):
                    raise self._failure(exc, method, path, attempt, took) from exc
            else:
                wait = self.policy.wait(
                    attempt, self._clock() - started, response.headers.get("Retry-After")
                )
                if (
                    wait is None
                    or response.status < 400
                    or not self.policy.retryable(method, status=response.status)
                ):
                    return response
            self._sleep(wait)

    def _failure(self, exc, method, path, attempts, took):
        if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
            exc, urllib3.exceptions.NewConnectionError
        ):
            return ClientError(
                f"the API server at {self.server} did not answer: {method} {path}: {attempts} "
                f"attempt{'s' if attempts != 1 else ''} in {took:.1f}s, none answered within the "
                f"request timeout of {_seconds(self.policy.timeout)}",
                reason="Timeout",
            )
        return ClientError(
            f"cannot reach the API server at {self.server}: {exc}", reason="Unreachable"
        )

    @staticmethod
    def _decode(status, reason, data):
        if status >= 400:
            try:
                message = json.loads(data).get("message") or reason
            except (TypeError, ValueError):
                message = reason
            raise ClientError(message, status, reason)
        return json.loads(data or b"{}")

    def _fallback_request(self, method, path, body, query, content_type, accept=None):
        headers = {"Accept": accept or "application/json", "Content-Type": content_type}
        payload = json.dumps(body) if body is not None else None
        method, url, headers, payload, _post_params = self.fallback.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=payload,
            auth_settings=["BearerToken"],
        )
        timeout = self.policy.timeout or None
        response = self.fallback.call_api(
            method,
            url,
            header_params=self._headers(headers),
            body=payload,
            _request_timeout=(timeout, timeout) if timeout else None,
        )
        return self._decode(response.status, response.reason, response.read())


def _from_environment(timeout):
    """kubernetes.core's K8S_AUTH_HOST with K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL and
    K8S_AUTH_SSL_CA_CERT (what AWX's Kubernetes bearer-token credential injects); None when
    K8S_AUTH_HOST is not set."""
    host = os.environ.get("K8S_AUTH_HOST")
    if not host:
        return None
    verify = os.environ.get("K8S_AUTH_VERIFY_SSL", "true").strip().lower()
    user, groups = _impersonation({})
    return Client(
        host,
        ca_file=os.environ.get("K8S_AUTH_SSL_CA_CERT") or None,
        token=os.environ.get("K8S_AUTH_API_KEY") or None,
        insecure=verify in ("false", "no", "off", "0"),
        impersonate_user=user,
        impersonate_groups=groups,
        request_timeout=timeout,
    )


@contextlib.contextmanager
def shared_clients():
    """Within this block, `connect` gives the same client to every caller that asks for the same
    cluster in the same way (threads included): one connection pool and one discovery per
    cluster for a task that works on many residencies."""
    with _SHARED_LOCK:
        outer = _SHARED["clients"]
        if outer is None:
            _SHARED["clients"] = {}
    try:
        yield
    finally:
        if outer is None:
            with _SHARED_LOCK:
                _SHARED["clients"] = None


def connect(kubeconfig=None, context=None, timeout=None, impersonate=None, in_cluster=None):
    """A client (see _connect); inside shared_clients(), one per cluster and way of asking."""
    if _SHARED["clients"] is None:
        return _connect(kubeconfig, context, timeout, impersonate, in_cluster)
    key = json.dumps([kubeconfig, context, timeout, impersonate, in_cluster], default=str)
    with _SHARED_LOCK:
        clients = _SHARED["clients"]
        if clients is None:  # the block ended meanwhile
            return _connect(kubeconfig, context, timeout, impersonate, in_cluster)
        if key not in clients:
            clients[key] = _connect(kubeconfig, context, timeout, impersonate, in_cluster)
        return clients[key]


def _connect(kubeconfig=None, context=None, timeout=None, impersonate=None, in_cluster=None):
    """A client for the kubeconfig (option, K8S_AUTH_KUBECONFIG, KUBECONFIG, ~/.kube/config;
    each may list several files) and context (option, K8S_AUTH_CONTEXT, current-context); without
    a kubeconfig option or K8S_AUTH_KUBECONFIG, K8S_AUTH_HOST with its companions (AWX's
    Kubernetes credential) comes first; else the in-cluster ServiceAccount. `timeout`: the
    module's request_timeout option (a duration), else LABSCTL_REQUEST_TIMEOUT, else 30s.

    labsctl, which resolves its target itself, says everything explicitly: `impersonate` is
    (user, groups) and replaces the environment's and the kubeconfig's (user None: nobody), and
    `in_cluster` is (ServiceAccount directory, server URL) for a target without a kubeconfig."""
    seconds = request_timeout(timeout)
    if in_cluster is not None:
        directory, server = in_cluster
        return _service_account_client(directory, server, seconds, impersonate)
    if not kubeconfig and not os.environ.get("K8S_AUTH_KUBECONFIG"):
        from_environment = _from_environment(seconds)
        if from_environment is not None:
            return from_environment
    paths = _kubeconfig_paths(kubeconfig)
    context = context or os.environ.get("K8S_AUTH_CONTEXT")
    if not paths:
        return _in_cluster(seconds)
    merged = _merge(paths)
    context_name = context or merged["current-context"]
    if not context_name:
        raise ClientError(
            f"the kubeconfig {os.pathsep.join(paths)} has no current-context; set a context"
        )
    ctx = _named(merged, "contexts", context_name, paths)[0]
    cluster, cluster_dir = _named(merged, "clusters", ctx.get("cluster"), paths)
    user, user_dir = (
        _named(merged, "users", ctx.get("user"), paths) if ctx.get("user") else ({}, "")
    )
    as_user, as_groups = _impersonation(user) if impersonate is None else impersonate
    network = {
        "proxy_url": cluster.get("proxy-url"),
        "tls_server_name": cluster.get("tls-server-name"),
        "impersonate_user": as_user,
        "impersonate_groups": as_groups,
        "request_timeout": seconds,
    }
    if "auth-provider" in user:
        from kubernetes import config as k8s_config  # legacy auth: the official client knows it

        return Client(
            cluster["server"],
            fallback=k8s_config.new_client_from_config(
                config_file=os.pathsep.join(paths), context=context_name
            ),
            **network,
        )
    token = user.get("token")
    if not token and user.get("tokenFile"):  # kubectl: `token` wins over `tokenFile`
        token_file = os.path.join(user_dir, os.path.expanduser(user["tokenFile"]))
        try:
            with open(token_file) as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise ClientError(f"cannot read the kubeconfig user's tokenFile: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="labsctl-kube-") as workdir:
        os.chmod(workdir, 0o700)
        cert = _material(user, "client-certificate", user_dir, workdir)
        key = _material(user, "client-key", user_dir, workdir)
        if "exec" in user:
            status = _exec_credential(user["exec"], user_dir)
            token = status.get("token", token)
            if status.get("clientCertificateData"):
                cert, key = os.path.join(workdir, "exec.crt"), os.path.join(workdir, "exec.key")
                with open(cert, "w") as handle:
                    handle.write(status["clientCertificateData"])
                with open(key, "w") as handle:
                    handle.write(status["clientKeyData"])
        # The SSL context reads the files now; the temporary copies go when the block ends.
        return Client(
            cluster["server"],
            ca_file=_material(cluster, "certificate-authority", cluster_dir, workdir),
            cert_file=cert,
            key_file=key,
            token=token,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            **network,
        )
