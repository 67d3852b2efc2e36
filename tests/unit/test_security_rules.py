"""The isolation rules of docs/security.md, one behaviour per test (the hostile-specs corpus
shows the exact messages; these prove the rules' edges and the operator's exceptions)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from labsctl import policy, secretsources, semantics
from labsctl.errors import RenderError, UsageError
from labsctl.export import export
from labsctl.render import render
from labsctl.spec import Residency
from labsctl.validation import validate_files

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "examples" / "small-team.yaml").read_text())


def _data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    for dotted, value in changes.items():
        parent = data
        parts = dotted.split("__")
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        parent[parts[-1]] = value
    return data


def _messages(data: dict[str, Any], rules: policy.Policy | None = None) -> list[str]:
    issues = semantics.check(Residency.model_validate(data), rules or policy.Policy())
    return [issue.message for issue in issues]


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Group", "system:authenticated"),
        ("Group", "system:unauthenticated"),
        ("Group", "system:masters"),
        ("Group", "system:serviceaccounts"),
        ("Group", "system:serviceaccounts:kube-system"),
        ("User", "system:anonymous"),
        ("User", "system:admin"),
        ("User", "system:serviceaccount:kube-system:default"),
        ("User", "system:serviceaccount:other-dev:pipeline"),
    ],
)
def test_cluster_identities_are_refused_as_team_members(kind: str, name: str) -> None:
    team = (
        {"members": [{"user": name, "role": "admin"}]}
        if kind == "User"
        else {"groups": [{"name": name, "role": "admin"}]}
    )
    messages = _messages(_data(spec__team=team))
    assert len(messages) == 1 and messages[0].startswith(f"{kind.lower()} refused:")


def test_the_residencys_own_service_accounts_may_be_members() -> None:
    team = {
        "members": [{"user": "system:serviceaccount:payments-dev:app", "role": "view"}],
        "groups": [{"name": "system:serviceaccounts:payments-test", "role": "view"}],
    }
    assert _messages(_data(spec__team=team)) == []


def test_an_operator_may_allow_a_named_system_subject_and_a_spec_may_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    team = {"groups": [{"name": "system:cluster-readers", "role": "view"}]}
    assert _messages(_data(spec__team=team)) != []
    allowed = policy.Policy(frozenset({"system:cluster-readers"}))
    assert _messages(_data(spec__team=team), allowed) == []
    monkeypatch.setenv(policy.ALLOWED_SUBJECTS_ENV, "x, system:cluster-readers")
    assert semantics.check(Residency.model_validate(_data(spec__team=team))) == []


@pytest.mark.parametrize(
    "key",
    [
        "pod-security.kubernetes.io/enforce",
        "network.openshift.io/policy-group",
        "openshift.io/node-selector",
        "app.kubernetes.io/part-of",
        "kubernetes.io/metadata.name",
        "argocd.argoproj.io/managed-by",
        "foo.k8s.io/x",
        "tekton.dev/pipeline",
        "labsctl.dev/residency",
    ],
)
def test_labels_and_annotations_under_reserved_domains_are_refused(key: str) -> None:
    for field in ("labels", "annotations"):
        assert len(_messages(_data(**{f"metadata__{field}": {key: "x"}}))) == 1, field


@pytest.mark.parametrize("key", ["team", "example.com/cost-centre", "kubernetes.io.example.com/x"])
def test_labels_under_the_teams_own_domains_are_kept(key: str) -> None:
    data = _data(metadata__labels={key: "x"})
    assert _messages(data) == []
    namespace = render(Residency.model_validate(data)).objects()[0]
    assert namespace["metadata"]["labels"][key] == "x"


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("kube", "system"),
        ("kube", "public"),
        ("kube", "node-lease"),
        ("openshift", "config"),
        ("default", "dev"),
        ("kube-x", "dev"),
        ("openshift-gitops", "dev"),
        ("labsctl", "system"),
        ("ingress", "nginx"),
    ],
)
def test_no_residency_may_own_a_platform_namespace(name: str, stage: str) -> None:
    data = _data(metadata__name=name, spec__stages=[{"name": stage}])
    data["spec"]["pipelines"] = {"enabled": False}
    assert any("reserved" in message for message in _messages(data))


def test_a_stage_may_not_be_the_specs_own_ingress_or_argo_cd_namespace() -> None:
    data = _data(spec__network={"ingressNamespaces": ["payments-dev"]})
    assert any("payments-dev" in message for message in _messages(data))


def test_two_residencies_of_one_run_may_not_derive_the_same_namespace(tmp_path: Path) -> None:
    first = _data(metadata__name="a", spec__stages=[{"name": "b-c"}, {"name": "ci-cd"}])
    second = _data(metadata__name="a-b", spec__stages=[{"name": "c"}, {"name": "ci-cd"}])
    paths = []
    for index, data in enumerate((first, second)):
        paths.append(tmp_path / f"{index}.yaml")
        paths[-1].write_text(yaml.safe_dump(data))
    assert validate_files([paths[0]]) == [] and validate_files([paths[1]]) == []
    problems = validate_files(paths)
    assert [(p.file, p.path, p.message) for p in problems] == [
        (str(paths[1]), "spec.stages[0].name", "namespace 'a-b-c' is also derived by residency 'a'")
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/org/repo.git",
        "https://git.example.com:8443/team/repo",
        "https://charts.example.com/",
        "git@github.com:org/repo.git",
        "ssh://git@git.example.com:2222/team/repo.git",
    ],
)
def test_ordinary_repository_urls_are_accepted(url: str) -> None:
    Residency.model_validate(_data(spec__pipelines={"gitUrl": url}))


@pytest.mark.parametrize(
    "url",
    [
        'https://github.com/o/r.git"; id; "',
        "https://github.com/o/$(id)",
        "https://github.com/o/`id`",
        "https://github.com/o/r x",
        "https://ghp_0123456789abcdefghijABCDEFGHIJ@github.com/o/r",
        "https://x-access-token:abc@github.com/o/r",
        "https://github.com/o/r?access_token=abc",
        "https://github.com/o/r#frag",
        "https://github.com/github_pat_0123456789abcdefghij_XYZ/r",
        "ssh://git:hunter2@host/r",
        "http://github.com/o/r",
        "file:///etc/passwd",
        "ext::sh -c id",
        "--upload-pack=id",
    ],
)
def test_repository_urls_outside_the_grammar_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        Residency.model_validate(_data(spec__pipelines={"gitUrl": url}))


@pytest.mark.parametrize(
    "revision", ["main", "v1.2.3", "release/2026.11", "0123456789abcdef0123456789abcdef01234567"]
)
def test_git_revisions_are_accepted(revision: str) -> None:
    app = {"name": "api", "stage": "dev", "repoURL": "https://g.example.com/a", "path": "k8s"}
    Residency.model_validate(
        _data(spec__tooling={"applications": [app | {"targetRevision": revision}]})
    )


@pytest.mark.parametrize("revision", ["a..b", "a//b", "-x", "a;b", "$(id)", "x.lock", "a b", "a/"])
def test_git_revisions_outside_the_grammar_are_refused(revision: str) -> None:
    app = {"name": "api", "stage": "dev", "repoURL": "https://g.example.com/a", "path": "k8s"}
    with pytest.raises(ValidationError):
        Residency.model_validate(
            _data(spec__tooling={"applications": [app | {"targetRevision": revision}]})
        )


@pytest.mark.parametrize(
    "name",
    [
        "K8S_AUTH_API_KEY", "K8S_AUTH_KUBECONFIG", "KUBECONFIG", "KUBERNETES_SERVICE_HOST",
        "LABSCTL_SECRETS_DIR", "ANSIBLE_VAULT_PASSWORD_FILE", "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_SECRET", "GITHUB_TOKEN", "VAULT_TOKEN",
        "HOME", "PATH", "SSH_AUTH_SOCK",
    ],
)  # fmt: skip
def test_the_credentials_of_the_tools_are_never_a_secret_source(name: str) -> None:
    assert secretsources.env_refusal(name, "payments") is not None
    data = _data(spec__secrets=[{"name": "s", "env": name}])
    assert len(_messages(data)) == 1


@pytest.mark.parametrize(
    ("residency", "name", "ok"),
    [
        ("payments", "PAYMENTS_GIT_TOKEN", True),
        ("mobile-banking", "MOBILE_BANKING_GIT_TOKEN", True),
        ("payments", "MOBILE_BANKING_GIT_TOKEN", False),
        ("payments", "PAYMENTS_", False),
        ("payments", "payments_git_token", False),
        ("github", "GITHUB_TOKEN", False),
        ("aws", "AWS_SECRET_ACCESS_KEY", False),
    ],
)
def test_a_residency_reads_only_variables_named_for_it(residency: str, name: str, ok: bool) -> None:
    assert (secretsources.env_refusal(name, residency) is None) is ok


@pytest.mark.parametrize(
    "path",
    [
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "~/.kube/config",
        "../../etc/shadow",
        "a/../../x",
        "./x",
        "a//b",
    ],
)
def test_secret_files_outside_the_secrets_directory_are_refused_by_shape(path: str) -> None:
    assert secretsources.file_refusal(path) is not None


def test_secret_files_are_read_only_inside_the_secrets_directory(tmp_path: Path) -> None:
    rules = secretsources.rules()
    secrets = tmp_path / "secrets"
    own = secrets / "payments"
    (own / "git").mkdir(parents=True)
    (own / "git" / "token").write_text("value\n")
    (secrets / "other").mkdir()
    (secrets / "other" / "token").write_text("another residency's token")
    (tmp_path / "outside").write_text("bootstrapper's token")
    (own / "escape").symlink_to(tmp_path / "outside")
    (own / "neighbour").symlink_to(secrets / "other" / "token")
    (own / "fifo").mkdir()
    os.mkfifo(own / "fifo" / "pipe")
    assert rules.read_file("git/token", str(secrets), "payments") == "value"
    for path, reason in [
        ("escape", "outside the residency's secrets directory"),
        ("neighbour", "outside the residency's secrets directory"),
        ("fifo/pipe", "not a regular file"),
        ("git/token", "no secrets directory is set"),
        ("missing", "cannot read"),
    ]:
        with pytest.raises(rules.SecretSourceError, match=reason):
            rules.read_file(path, None if "no secrets" in reason else str(secrets), "payments")


def test_custom_quota_profile_needs_hard_limits() -> None:
    messages = _messages(_data(spec__quota={"profile": "custom"}))
    assert messages == ["profile custom sets nothing by itself and hard is empty"]
    assert _messages(_data(spec__quota={"profile": "custom", "hard": {"pods": "3"}})) == []


@pytest.mark.parametrize(
    ("resource", "value", "ok"),
    [
        ("pods", "1.5", False),
        ("pods", "1500m", False),
        ("pods", "2k", True),
        ("count/deployments.apps", "0.5", False),
        ("requests.cpu", "1.5", True),
    ],
)
def test_resources_counted_in_objects_must_be_whole_numbers(
    resource: str, value: str, ok: bool
) -> None:
    assert (_messages(_data(spec__quota={"hard": {resource: value}})) == []) is ok


@pytest.mark.parametrize("resource", ["count/Pods", "count/", "count/a..b", "count/-x"])
def test_malformed_count_resources_are_refused(resource: str) -> None:
    with pytest.raises(ValidationError):
        Residency.model_validate(_data(spec__quota={"hard": {resource: "1"}}))


@pytest.mark.parametrize(
    ("request_", "limit", "ok"),
    [("500m", "250m", False), ("1", "1000m", True), ("1Gi", "1000Mi", False), ("1G", "1Gi", True)],
)
def test_limit_range_default_may_not_be_below_its_default_request(
    request_: str, limit: str, ok: bool
) -> None:
    quota = {
        "limitRange": {
            "defaultRequest": {"cpu": request_, "memory": "128Mi"},
            "default": {"cpu": limit, "memory": "128Mi"},
        }
    }
    assert (_messages(_data(spec__quota=quota)) == []) is ok


@pytest.mark.parametrize("day", ["1999-12-31", "3000-01-01", "9999-12-31"])
def test_dates_outside_the_supported_range_are_refused(day: str) -> None:
    with pytest.raises(ValidationError, match="outside the range"):
        Residency.model_validate(_data(spec__dates={"start": "2026-01-01", "end": day}))


def test_the_latest_accepted_dates_render() -> None:
    dates = {"start": "2999-12-31", "end": "2999-12-31", "gracePeriodDays": 365}
    residency = Residency.model_validate(_data(spec__dates=dates))
    assert semantics.check(residency, policy.Policy()) == []
    namespace = render(residency).objects()[0]
    assert namespace["metadata"]["annotations"]["labsctl.dev/archive"] == "3000-12-31"


def test_tekton_steps_read_parameters_only_from_their_environment() -> None:
    """Tekton pastes `$(params.x)` into a script as text: a parameter in a script would be
    shell code from whoever sets it (a spec, a webhook payload)."""
    data = _data(spec__pipelines={"enabled": True, "gitUrl": "https://git.example.com/a/b"})
    objects = render(Residency.model_validate(data)).objects(lambda _c: True)
    steps = [step for obj in objects if obj["kind"] == "Task" for step in obj["spec"]["steps"]]
    assert steps
    for step in steps:
        for marker in ("$(params.", "$(tt.", "$(body.", "$(header.", "$(extensions."):
            assert marker not in step.get("script", ""), step["name"]
            assert marker not in " ".join(step.get("args", []) + step.get("command", []))


def test_a_spec_label_never_replaces_one_a_template_or_labsctl_sets(tmp_path: Path) -> None:
    (tmp_path / "quotas").mkdir()
    (tmp_path / "quotas" / "extra.yaml.j2").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
        "  namespace: {{ stages[0].namespace }}\n"
        "  labels: {team: platform}\n  annotations: {example.com/owner: platform}\n"
    )
    data = _data(
        metadata__labels={"team": "spec", "other": "kept"},
        metadata__annotations={"example.com/owner": "spec"},
    )
    objects = render(Residency.model_validate(data), tmp_path).objects()
    extra = next(o for o in objects if o["metadata"]["name"] == "extra")
    assert extra["metadata"]["labels"]["team"] == "platform"
    assert extra["metadata"]["labels"]["other"] == "kept"
    assert extra["metadata"]["labels"]["app.kubernetes.io/part-of"] == "payments"
    assert extra["metadata"]["annotations"]["example.com/owner"] == "platform"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("https://ghp_0123456789abcdefghijABCDEF@github.com/o/r", "main"), "carries credentials"),
        (("https://github.com/o/r?access_token=hunter2", "main"), "carries credentials"),
        (("https://github.com/o/r", "-x"), "--revision '-x': invalid revision"),
    ],
)
def test_export_checks_its_repository_flags_like_spec_fields_before_reading_the_cluster(
    tmp_path: Path, flags: tuple[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message) as refused:
        export(None, "payments", tmp_path / "out", *flags)  # type: ignore[arg-type]
    assert "ghp_0123" not in str(refused.value) and "hunter2" not in str(refused.value)


def test_the_kubeconfig_context_is_chosen_by_the_operator_not_the_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _data(spec__cluster={"context": "prod-admin"})
    assert _messages(data)[0].startswith("the kubeconfig context is the operator's choice")
    allowed = policy.Policy(allowed_contexts=frozenset({"prod-admin"}))
    assert _messages(data, allowed) == []
    monkeypatch.setenv(policy.ALLOWED_CONTEXTS_ENV, "lab-a,prod-admin")
    assert semantics.check(Residency.model_validate(data)) == []


@pytest.mark.parametrize(
    ("namespace", "ok"),
    [("argocd", True), ("openshift-gitops", True), ("kube-system", False), ("other-dev", False)],
)
def test_the_argo_cd_instance_is_one_the_operator_allows(namespace: str, ok: bool) -> None:
    data = _data(spec__tooling={"argocdNamespace": namespace})
    assert (_messages(data) == []) is ok


def test_an_operator_may_name_its_own_argo_cd_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(policy.ARGOCD_NAMESPACES_ENV, "gitops-prod")
    rules = policy.Policy.from_environment()
    assert rules.argocd_namespaces == {"gitops-prod"}
    assert _messages(_data(spec__tooling={"argocdNamespace": "argocd"}), rules) != []
    assert _messages(_data(spec__tooling={"argocdNamespace": "gitops-prod"}), rules) == []


def test_created_groups_are_named_for_the_residency() -> None:
    team = {"createGroups": True, "groups": [{"name": "cluster-admins", "users": ["mallory"]}]}
    assert len(_messages(_data(spec__team=team))) == 1
    team["groups"][0]["name"] = "payments-cluster-admins"
    assert _messages(_data(spec__team=team)) == []
    # Binding an existing identity-provider group by any name stays possible.
    assert _messages(_data(spec__team={"groups": [{"name": "cluster-admins"}]})) == []


def test_an_operator_may_reserve_more_namespaces_and_prefixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _data(metadata__name="team", spec__stages=[{"name": "ci-cd"}, {"name": "monitor"}])
    assert _messages(data) == []
    monkeypatch.setenv(policy.RESERVED_NAMESPACES_ENV, "team-monitor")
    assert len(semantics.check(Residency.model_validate(data))) == 1
    monkeypatch.setenv(policy.RESERVED_NAMESPACES_ENV, "other, team-*")
    assert len(semantics.check(Residency.model_validate(data))) == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://kubernetes.default.svc/api",
        "https://argocd-repo-server.argocd.svc.cluster.local/x",
        "https://localhost:8081/",
        "https://127.0.0.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://metadata.google.internal/x",
        "git@localhost:x/y.git",
    ],
)
def test_repository_urls_may_not_name_hosts_inside_the_cluster_or_the_machine(url: str) -> None:
    with pytest.raises(ValidationError, match="inside the cluster"):
        Residency.model_validate(_data(spec__pipelines={"gitUrl": url}))


@pytest.mark.parametrize("residency", ["..", "a/b", "", "."])
def test_secret_files_need_a_plain_residency_name(tmp_path: Path, residency: str) -> None:
    """A hand-written inventory whose objects carry a residency label like `..` cannot point
    the secrets path outside the secrets directory."""
    rules = secretsources.rules()
    with pytest.raises(rules.SecretSourceError, match="not a residency name"):
        rules.resolve_file("token", str(tmp_path), residency)


def test_a_template_naming_an_undefined_variable_says_which(tmp_path: Path) -> None:
    (tmp_path / "quotas").mkdir()
    (tmp_path / "quotas" / "x.yaml.j2").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ nosuch }}\n"
    )
    with pytest.raises(
        RenderError, match=r"template quotas/x\.yaml\.j2 failed: 'nosuch' is undefined"
    ):
        render(Residency.model_validate(_data()), tmp_path)
