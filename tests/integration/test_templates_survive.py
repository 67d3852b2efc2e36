"""Objects a `--templates` directory adds survive `freeze` and `extend` given the same directory."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from labsctl import load_spec, naming
from tests.integration.playbooks import write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration

# A kind labsctl manages (prune looks for it), added by a platform team's template directory.
EXTRA_TEMPLATE = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-monitoring
  namespace: {{ namespaces[0] }}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: monitoring
"""


def _extra_policy(k8s: client.ApiClient, namespace: str) -> dict[str, str] | None:
    """The labels of the template's NetworkPolicy, or None when it is not there."""
    try:
        policy = client.NetworkingV1Api(k8s).read_namespaced_network_policy(
            "allow-monitoring", namespace
        )
    except client.ApiException as exc:
        assert exc.status == 404
        return None
    return dict(policy.metadata.labels or {})


def _pruned(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What a run pruned (freezing prunes the pipeline's deploy rights, for one)."""
    return [
        (change["kind"], change["namespace"], change["name"])
        for change in summary["residencies"][0]["changes"]
        if change["action"] == "pruned"
    ]


def test_freeze_and_extend_with_templates_keep_the_objects_they_add(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = write_spec(tmp_path, residency_name)
    extra = tmp_path / "templates"
    (extra / "network").mkdir(parents=True)
    (extra / "network" / "extra.yaml.j2").write_text(EXTRA_TEMPLATE)
    residency = load_spec(spec)
    namespace = residency.namespace(residency.stage_names()[0])
    added = ("NetworkPolicy", namespace, "allow-monitoring")
    end = residency.spec.dates.end

    applied = labsctl("apply", str(spec), "--templates", str(extra), kubeconfig=admin_kubeconfig)
    assert applied.returncode == 0, applied.stderr
    labels = _extra_policy(k8s, namespace)
    assert labels is not None, "apply --templates did not create the template's object"
    assert labels[naming.LABEL_RESIDENCY] == residency_name

    frozen = labsctl(
        "freeze", str(spec), "--templates", str(extra), "-o", "json", kubeconfig=admin_kubeconfig
    )
    assert frozen.returncode == 0, frozen.stderr
    assert json.loads(frozen.stdout)["residencies"][0]["frozen"] is True
    assert added not in _pruned(json.loads(frozen.stdout))
    assert _extra_policy(k8s, namespace) is not None, "freeze --templates pruned it"

    until = (end + dt.timedelta(days=30)).isoformat()
    extended = labsctl(
        "extend",
        str(spec),
        "--until",
        until,
        "--templates",
        str(extra),
        "-o",
        "json",
        kubeconfig=admin_kubeconfig,
    )
    assert extended.returncode == 0, extended.stderr
    result = json.loads(extended.stdout)
    assert result["extension"]["newEnd"] == until
    assert result["apply"]["residencies"][0]["frozen"] is False
    assert added not in _pruned(result["apply"])
    assert _extra_policy(k8s, namespace) is not None, "extend --templates pruned it"

    # Without the directory the object is no longer asked for, so freeze prunes it: what the
    # steps above protect against.
    bare = labsctl("freeze", str(spec), "-o", "json", kubeconfig=admin_kubeconfig)
    assert bare.returncode == 0, bare.stderr
    assert added in _pruned(json.loads(bare.stdout))
    assert _extra_policy(k8s, namespace) is None
