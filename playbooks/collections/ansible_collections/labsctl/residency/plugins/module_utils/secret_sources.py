# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Where a residency spec's secret values may come from; the one set of rules.

A spec is written by a team and applied with the bootstrapper's rights, so `spec.secrets` must
never name the bootstrapper's own credentials. Both paths use this module: the `secret_values`
filter (the roles, also under plain `ansible-playbook`) and `labsctl validate`. It needs nothing
but the standard library.

- An environment variable is named for the residency (`PAYMENTS_GIT_TOKEN` for residency
  `payments`: the residency's name in capitals, `-` as `_`, then `_`), so that one residency
  cannot read another's, and is never one of the credentials of labsctl, Ansible, Kubernetes
  clients, cloud CLIs used by kubeconfig exec plugins, or CI systems (`env_refusal`).
- A file is a relative path inside the residency's own subdirectory of the secrets directory the
  operator names with `LABSCTL_SECRETS_DIR` (or `--secrets-dir`): `<dir>/<residency>/<path>`;
  symbolic links are resolved and may not leave it (`resolve_file`).
"""

from __future__ import annotations

import os
import re
import stat

SECRETS_DIR_ENV = "LABSCTL_SECRETS_DIR"
MAX_SECRET_BYTES = 64 * 1024

# Credentials and settings of the tools that run a residency's apply, never a spec's secret.
FORBIDDEN_ENV_PREFIXES = (
    "LABSCTL_", "K8S_AUTH_", "KUBE", "ANSIBLE_", "AWX_", "TOWER_", "CONTROLLER_",
    "AWS_", "AZURE_", "ARM_", "GOOGLE_", "GCP_", "CLOUDSDK_", "OCI_", "IBMCLOUD_",
    "VAULT_", "GITHUB_", "ACTIONS_", "RUNNER_", "GITLAB_", "CI_", "BUILDKITE_", "JENKINS_",
    "TEKTON_", "ARGOCD_", "SSH_", "GPG_", "DOCKER_", "REGISTRY_", "PYTHON", "LD_",
    "AAD_", "DIGITALOCEAN_", "OS_", "SYSTEM_", "BITBUCKET_", "TELEPORT_", "HELM_", "OC_",
    "OPENSHIFT_", "NETRC", "GIT_",
)  # fmt: skip
FORBIDDEN_ENV_NAMES = (
    "HOME", "PATH", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "HOSTNAME", "NETRC",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip
_RELATIVE_FILE = re.compile(r"^(?!/)(?!~)[A-Za-z0-9._@+=-]+(/[A-Za-z0-9._@+=-]+)*$")


_RESIDENCY = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class SecretSourceError(Exception):
    """A secret reference that may not be read; the message never holds a value."""


def env_prefix(residency):
    """`PAYMENTS_` for residency `payments`: how its secret variables are named."""
    return residency.upper().replace("-", "_") + "_"


def env_refusal(name, residency):
    """Why the environment variable `name` may not be a secret source of `residency`, or None."""
    upper = name.upper()
    if name in FORBIDDEN_ENV_NAMES or upper in FORBIDDEN_ENV_NAMES:
        return f"{name} is a setting of the machine or of the tools that apply residencies"
    for prefix in FORBIDDEN_ENV_PREFIXES:
        if upper.startswith(prefix):
            return (
                f"variables starting with {prefix} hold the credentials or settings of the tools "
                "that apply residencies"
            )
    prefix = env_prefix(residency)
    if not name.startswith(prefix) or name == prefix:
        return f"a residency's variables are named for it: {prefix}<NAME>"
    return None


def file_refusal(path):
    """Why `path` is not a valid secret file reference (by its shape alone), or None."""
    if not _RELATIVE_FILE.match(path):
        return "a secret file is a relative path inside the secrets directory"
    if any(part in (".", "..") for part in path.split("/")):
        return "'.' and '..' may not appear in a secret file path"
    return None


def resolve_file(path, secrets_dir, residency):
    """The real path of secret file `path` in the residency's subdirectory of `secrets_dir`;
    raises SecretSourceError."""
    refusal = file_refusal(path)
    if refusal:
        raise SecretSourceError(refusal)
    if not secrets_dir:
        raise SecretSourceError(
            f"no secrets directory is set: the operator names it with {SECRETS_DIR_ENV} "
            "(or labsctl's --secrets-dir)"
        )
    if not _RESIDENCY.match(residency or ""):
        raise SecretSourceError(f"{residency!r} is not a residency name")
    if not os.path.isdir(secrets_dir):
        raise SecretSourceError(f"the secrets directory {secrets_dir} is not a directory")
    base = os.path.realpath(os.path.join(secrets_dir, residency))
    real = os.path.realpath(os.path.join(base, path))
    if os.path.commonpath([base, real]) != base:
        raise SecretSourceError(
            f"{path} resolves outside the residency's secrets directory ({residency}/)"
        )
    return real


def read_file(path, secrets_dir, residency):
    """The stripped text of secret file `path` of `residency` inside `secrets_dir`."""
    real = resolve_file(path, secrets_dir, residency)
    try:
        fd = os.open(
            real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as exc:
        raise SecretSourceError(f"cannot read {path} ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SecretSourceError(f"{path} is not a regular file")
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretSourceError(f"{path} is larger than {MAX_SECRET_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretSourceError(f"{path} is not UTF-8 text") from None


def read_env(name, residency, environ=None):
    """The value of environment variable `name` for `residency`, refusing forbidden ones."""
    refusal = env_refusal(name, residency)
    if refusal:
        raise SecretSourceError(f"environment variable {name} may not be used: {refusal}")
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise SecretSourceError(f"environment variable {name} is not set")
    return value
