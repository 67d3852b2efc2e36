"""A spec pull request, applied by the bootstrapper, can neither run code on the controller nor
read the bootstrapper's credentials: through labsctl and through plain ansible-playbook, with the
real roles against the real control plane (docs/security.md)."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.playbooks import run_playbook, secret_env, write_inventory, write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration


def _hostile(marker: Path, kubeconfig: Path) -> Any:
    """Spec values that are valid data and would each run code if Ansible templated them."""

    def mutate(data: dict[str, Any]) -> None:
        spec = data["spec"]
        spec["description"] = (
            "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n"
            f"[[ lookup('pipe', 'touch {marker}-description') ]]\n"
        )
        data["metadata"]["annotations"] = {"example.com/note": "#jinja2:x"}
        spec["tooling"]["tools"][1]["values"] = {
            "pipe": "{{ lookup('pipe', 'touch " + str(marker) + "-value') }}",
            "{{ lookup('pipe', 'touch " + str(marker) + "-key') }}": "key",
            "kubeconfig": "{{ lookup('file', '" + str(kubeconfig) + "') }}",
            "env": "{{ lookup('env', 'K8S_AUTH_KUBECONFIG') }}",
            "header": "#jinja2:block_start_string:'<%'\n<% for x in range(3) %>x<% endfor %>",
        }

    return mutate


def _credentials(kubeconfig: Path) -> list[str]:
    """The secret parts of the bootstrapper's kubeconfig, as they could leak."""
    text = kubeconfig.read_text()
    # The CA is public (every namespace has it in kube-root-ca.crt); the key and token are not.
    found = [line.split(":", 1)[1].strip() for line in text.splitlines() if "key-data:" in line]
    found += [line.split(":", 1)[1].strip() for line in text.splitlines() if "token:" in line]
    secret_values = [value for value in found if len(value) > 20]
    assert secret_values, "the kubeconfig holds no credential to look for"
    decoded = []
    for value in secret_values:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            decoded.append(base64.b64decode(value).decode()[30:90])
    return [v for v in secret_values + decoded if v]


def _owned_objects(k8s: client.ApiClient, name: str) -> str:
    """The residency's namespaces, their Secrets and ConfigMaps, and its Applications, as text."""
    selector = f"labsctl.dev/residency={name}"
    core = client.CoreV1Api(k8s)
    namespaces = core.list_namespace(label_selector=selector).items
    objects: list[Any] = [ns.to_dict() for ns in namespaces]
    for ns in namespaces:
        objects += [o.to_dict() for o in core.list_namespaced_secret(ns.metadata.name).items]
        objects += [o.to_dict() for o in core.list_namespaced_config_map(ns.metadata.name).items]
    objects += client.CustomObjectsApi(k8s).list_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "openshift-gitops", "applications", label_selector=selector
    )["items"]
    return json.dumps(objects, default=str)


@pytest.mark.parametrize("path", ["labsctl", "ansible-playbook"])
def test_a_spec_cannot_run_code_on_the_controller_or_read_the_bootstrappers_credentials(
    path: str,
    tmp_path: Path,
    residency_name: str,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
) -> None:
    marker = tmp_path / "pwned"
    spec = write_spec(
        tmp_path, residency_name, "openshift-platform", _hostile(marker, admin_kubeconfig)
    )
    assert labsctl("validate", str(spec)).returncode == 0
    if path == "labsctl":
        run = labsctl("apply", str(spec), "-o", "json", kubeconfig=admin_kubeconfig)
        assert run.returncode == 0, run.stderr[-3000:]
    else:
        inventory = write_inventory(tmp_path, [spec])
        played = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
        assert played.rc == 0, played.stderr[-3000:] + played.stdout[-3000:]

    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pwned")) == []
    # The values reached the cluster exactly as written: data, never evaluated.
    app = client.CustomObjectsApi(k8s).get_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        "openshift-gitops",
        "applications",
        f"{residency_name}-sonarqube",
    )
    written = _hostile(marker, admin_kubeconfig)
    expected: dict[str, Any] = {
        "metadata": {},
        "spec": {"tooling": {"tools": [{}, {"values": {}}]}},
    }
    written(expected)
    values = app["spec"]["source"]["helm"]["valuesObject"]
    for key, value in expected["spec"]["tooling"]["tools"][1]["values"].items():
        assert values[key] == value, key
    namespace = client.CoreV1Api(k8s).read_namespace(f"{residency_name}-dev")
    annotations = namespace.metadata.annotations
    assert annotations["openshift.io/description"] == expected["spec"]["description"]
    assert annotations["example.com/note"] == "#jinja2:x"
    # Nothing of the bootstrapper's kubeconfig is on the cluster, in any object the team can read.
    on_cluster = _owned_objects(k8s, residency_name)
    for credential in _credentials(admin_kubeconfig):
        assert credential not in on_cluster


def test_a_secret_file_that_leaves_the_secrets_directory_is_never_read(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """A symbolic link inside the secrets directory pointing at the bootstrapper's kubeconfig:
    the shape is valid, so validation passes; the roles resolve it and refuse, before anything
    holding its content is created."""
    secrets = tmp_path / "secrets"
    (secrets / residency_name).mkdir(parents=True)
    (secrets / residency_name / "git-token").symlink_to(admin_kubeconfig)

    def from_file(data: dict[str, Any]) -> None:
        data["spec"]["secrets"][0] = {"name": "git-token", "file": "git-token"}

    spec = write_spec(tmp_path, residency_name, "openshift-platform", from_file)
    run = labsctl("apply", str(spec), "--secrets-dir", str(secrets), kubeconfig=admin_kubeconfig)
    assert run.returncode == 5, run.stderr[-3000:]
    assert "git-token resolves outside the residency's secrets directory" in run.stdout + run.stderr
    with pytest.raises(client.ApiException) as missing:
        client.CoreV1Api(k8s).read_namespaced_secret("git-credentials", f"{residency_name}-ci-cd")
    assert missing.value.status == 404

    (secrets / residency_name / "git-token").unlink()
    (secrets / residency_name / "git-token").write_text("a-real-token\n")
    inventory = write_inventory(tmp_path, [spec])
    played = run_playbook(
        "bootstrap.yml", inventory, admin_kubeconfig, env={"LABSCTL_SECRETS_DIR": str(secrets)}
    )
    assert played.rc == 0, played.stderr[-3000:] + played.stdout[-3000:]
    secret = client.CoreV1Api(k8s).read_namespaced_secret(
        "git-credentials", f"{residency_name}-ci-cd"
    )
    assert base64.b64decode(secret.data["password"]).decode() == "a-real-token"


def test_the_bootstrappers_credentials_in_the_environment_are_refused_as_secret_sources(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    def from_env(data: dict[str, Any]) -> None:
        data["spec"]["secrets"][0] = {"name": "git-token", "env": "K8S_AUTH_KUBECONFIG"}

    spec = write_spec(tmp_path, residency_name, "openshift-platform", from_env)
    refused = labsctl("validate", str(spec))
    assert refused.returncode == 2
    assert "spec.secrets[0].env: environment variable refused" in refused.stderr
    # The roles refuse it too, for a pipeline that runs an inventory nobody validated (rendered
    # before the rule existed, or edited by hand).
    (tmp_path / "fine").mkdir()
    fine = write_spec(tmp_path / "fine", residency_name, "openshift-platform")
    written = write_inventory(tmp_path, [fine], name="rendered")
    host_vars = written / "host_vars" / f"{residency_name}.yml"
    text = host_vars.read_text()
    variable = secret_env(residency_name, "GIT_TOKEN")
    assert f"env: {variable}" in text
    host_vars.write_text(text.replace(f"env: {variable}", "env: KUBECONFIG"))
    played = run_playbook("bootstrap.yml", written, admin_kubeconfig)
    assert played.rc != 0
    assert "environment variable KUBECONFIG may not be used" in played.failure(residency_name)
