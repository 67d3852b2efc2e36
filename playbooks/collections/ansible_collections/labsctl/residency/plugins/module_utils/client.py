# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""A small Kubernetes REST client for labsctl's modules.

Importing the official `kubernetes` package costs about 0.3 s per task, most of a module's run;
this client reads the kubeconfig itself (client certificates, bearer tokens, exec credential
plugins, in-cluster service accounts) and talks to the API server over one urllib3 pool. For
kubeconfigs using a legacy `auth-provider`, it hands over to the official client.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import traceback
from urllib.parse import urlencode

from ansible.module_utils.basic import missing_required_lib

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

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def require_libraries(module):
    """Fail `module` naming the missing library when urllib3 or PyYAML cannot be imported."""
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


def _kubeconfig_path(explicit):
    if explicit:
        return os.path.expanduser(explicit)
    for candidate in (os.environ.get("K8S_AUTH_KUBECONFIG"), os.environ.get("KUBECONFIG")):
        if candidate:
            return os.path.expanduser(candidate.split(os.pathsep)[0])
    default = os.path.expanduser("~/.kube/config")
    return default if os.path.exists(default) else None


def _named(items, name, what):
    for item in items or []:
        if item.get("name") == name:
            return item.get(what) or {}
    raise ClientError(f"the kubeconfig has no {what} named {name!r}")


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


def _exec_credential(spec):
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item["value"]
    command = [spec["command"], *(spec.get("args") or [])]
    try:
        output = subprocess.run(
            command, env=env, capture_output=True, check=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClientError(
            f"the kubeconfig's exec credential plugin {spec['command']} failed: {exc}"
        ) from exc
    return json.loads(output).get("status") or {}


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
    ):
        self.server = server.rstrip("/")
        self.fallback = fallback
        self.headers = {"Accept": "application/json", "User-Agent": "labsctl"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if fallback is not None:
            return
        context = ssl.create_default_context(cafile=ca_file)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert_file and key_file:
            context.load_cert_chain(cert_file, key_file)
        self.pool = urllib3.PoolManager(
            ssl_context=context, retries=False, timeout=urllib3.Timeout(connect=10, read=60)
        )

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        if self.fallback is not None:
            return self._fallback_request(method, path, body, query, content_type)
        url = self.server + path
        if query:
            url += "?" + urlencode(query)
        headers = dict(self.headers)
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = json.dumps(body).encode("utf-8")  # JSON is YAML, for apply patches
        try:
            response = self.pool.request(method, url, body=payload, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ClientError(f"cannot reach the API server at {self.server}: {exc}") from exc
        return self._decode(response.status, response.reason, response.data)

    @staticmethod
    def _decode(status, reason, data):
        if status >= 400:
            try:
                message = json.loads(data).get("message") or reason
            except (TypeError, ValueError):
                message = reason
            raise ClientError(message, status, reason)
        return json.loads(data or b"{}")

    def _fallback_request(self, method, path, body, query, content_type):
        headers = {"Accept": "application/json", "Content-Type": content_type}
        payload = json.dumps(body) if body is not None else None
        method, url, headers, payload, _post_params = self.fallback.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=payload,
            auth_settings=["BearerToken"],
        )
        response = self.fallback.call_api(method, url, header_params=headers, body=payload)
        return self._decode(response.status, response.reason, response.read())


def connect(kubeconfig=None, context=None):
    """A client for the kubeconfig (flag, K8S_AUTH_KUBECONFIG, KUBECONFIG, ~/.kube/config)
    and context (flag, K8S_AUTH_CONTEXT, current-context), or the in-cluster service account."""
    path = _kubeconfig_path(kubeconfig)
    context = context or os.environ.get("K8S_AUTH_CONTEXT")
    if path is None:
        if "KUBERNETES_SERVICE_HOST" in os.environ:
            with open(os.path.join(IN_CLUSTER_DIR, "token")) as handle:
                token = handle.read().strip()
            host = os.environ["KUBERNETES_SERVICE_HOST"]
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            return Client(
                f"https://{host}:{port}",
                ca_file=os.path.join(IN_CLUSTER_DIR, "ca.crt"),
                token=token,
            )
        raise ClientError("no kubeconfig found: set K8S_AUTH_KUBECONFIG or KUBECONFIG")
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClientError(f"cannot read the kubeconfig {path}: {exc}") from exc
    context_name = context or config.get("current-context")
    if not context_name:
        raise ClientError(f"the kubeconfig {path} has no current-context; set a context")
    ctx = _named(config.get("contexts"), context_name, "context")
    cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(config.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}
    if "auth-provider" in user:
        from kubernetes import config as k8s_config  # legacy auth: the official client knows it

        return Client(
            cluster["server"],
            fallback=k8s_config.new_client_from_config(config_file=path, context=context_name),
        )
    base_dir = os.path.dirname(os.path.abspath(path))
    token = user.get("token")
    if user.get("tokenFile"):
        with open(user["tokenFile"]) as handle:
            token = handle.read().strip()
    with tempfile.TemporaryDirectory(prefix="labsctl-kube-") as workdir:
        os.chmod(workdir, 0o700)
        cert = _material(user, "client-certificate", base_dir, workdir)
        key = _material(user, "client-key", base_dir, workdir)
        if "exec" in user:
            status = _exec_credential(user["exec"])
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
            ca_file=_material(cluster, "certificate-authority", base_dir, workdir),
            cert_file=cert,
            key_file=key,
            token=token,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
        )
