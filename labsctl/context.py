"""Every decision about what a residency needs, made in Python, as plain data for the templates.

Templates under `templates/` only loop over what `build_context` returns: which subjects get which
role in which stage, which quota a stage has, which stages the pipeline may deploy to, which
repositories Argo CD may use. Nothing here touches the cluster.
"""

from __future__ import annotations

from typing import Any

from labsctl import naming
from labsctl.catalogue import TOOLS
from labsctl.spec import Residency, Role, Stage


def build_context(residency: Residency, *, frozen: bool = False) -> dict[str, Any]:
    """Template data; `frozen` (after the end date): the team keeps view rights only and the
    pipeline stops deploying, while everything else stays for the hand-over."""
    spec = residency.spec
    stages = [_stage(residency, stage, frozen) for stage in spec.stages]
    return {
        "residency": {
            "name": residency.name,
            "display_name": spec.display_name or residency.name,
            "organisation": spec.organisation,
            "description": spec.description or "",
        },
        "stages": stages,
        "namespaces": [stage["namespace"] for stage in stages],
        "network": {
            "isolation": spec.network.isolation,
            "ingress_namespaces": list(spec.network.ingress_namespaces),
            "cicd_namespace": residency.namespace(spec.pipelines.stage)
            if spec.pipelines.stage in residency.stage_names()
            else None,
        },
        "groups": _groups(residency),
        "pipelines": _pipelines(residency, frozen),
        "frozen": frozen,
        "gitops": _gitops(residency),
    }


def _effective_role(role: Role, cap: Role | None) -> Role:
    return role if cap is None or role.rank <= cap.rank else cap


def _stage(residency: Residency, stage: Stage, frozen: bool) -> dict[str, Any]:
    spec = residency.spec
    cap = Role.VIEW if frozen else stage.max_role
    subjects: dict[str, list[dict[str, str]]] = {role.value: [] for role in Role}
    for member in spec.team.members:
        role = _effective_role(member.role, cap)
        subjects[role.value].append(
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": member.user}
        )
    for group in spec.team.groups:
        role = _effective_role(group.role, cap)
        subjects[role.value].append(
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group.name}
        )
    quota = residency.stage_quota(stage)
    display = f"{spec.display_name or residency.name} ({stage.name})"
    return {
        "name": stage.name,
        "namespace": residency.namespace(stage.name),
        "display_name": display,
        "description": stage.description or spec.description or "",
        "bindings": [
            {"name": f"team-{role}", "role": role, "subjects": subjects[role]}
            for role in ("admin", "edit", "view")
            if subjects[role]
        ],
        "quota": {
            "hard": dict(sorted(quota.effective_hard().items())),
            "default": quota.limit_range.default.model_dump(),
            "default_request": quota.limit_range.default_request.model_dump(),
        },
    }


def _groups(residency: Residency) -> list[dict[str, Any]]:
    team = residency.spec.team
    if not team.create_groups:
        return []
    return [{"name": group.name, "users": list(group.users)} for group in team.groups]


def _pipelines(residency: Residency, frozen: bool) -> dict[str, Any]:
    pipelines = residency.spec.pipelines
    enabled = pipelines.enabled is not False
    stages = residency.stage_names()
    namespace = residency.namespace(pipelines.stage)
    deploy = [residency.namespace(s) for s in residency.deploy_stages() if s in stages]
    deploy = deploy if enabled else []
    git_url = pipelines.git_url or ""
    webhook = pipelines.webhook
    return {
        "enabled": enabled,
        "required": pipelines.enabled is True,
        "namespace": namespace if enabled else None,
        "service_account": pipelines.service_account,
        "deploy_namespaces": deploy,
        # Where the pipeline account gets edit rights: nowhere once frozen.
        "deployer_namespaces": [] if frozen else deploy,
        "default_deploy_namespace": deploy[0] if deploy else namespace,
        "images": pipelines.images.model_dump(),
        "git_url": git_url,
        "git_credentials_secret": pipelines.git_credentials_secret,
        "git_ssh": is_ssh_url(git_url),
        "git_host": git_credential_host(git_url),
        "git_username": pipelines.git_username,
        "git_known_hosts": "".join(f"{line}\n" for line in pipelines.git_known_hosts),
        "image": pipelines.image or "",
        "registry_credentials_secret": pipelines.registry_credentials_secret,
        "linked_secrets": [
            name
            for name, ref in (
                ("git-credentials", pipelines.git_credentials_secret),
                ("registry-credentials", pipelines.registry_credentials_secret),
            )
            if ref
        ],
        "manifests": pipelines.manifests,
        # The push trigger: only with a repository and an image to build (semantics says so).
        "webhook": {
            "provider": webhook.provider.value,
            "secret": webhook.secret,
            "host": webhook.host or "",
            "event_types": list(WEBHOOK_PUSH_EVENTS[webhook.provider.value]),
        }
        if enabled and webhook and git_url and pipelines.image
        else None,
    }


# The header value each Git host sends with a push event (its interceptor's `eventTypes`).
WEBHOOK_PUSH_EVENTS = {"github": ("push",), "gitlab": ("Push Hook",)}


def _gitops(residency: Residency) -> dict[str, Any]:
    tooling = residency.spec.tooling
    applications: list[dict[str, Any]] = []
    for tool in tooling.tools:
        entry = TOOLS[tool.name]
        applications.append(
            {
                "name": naming.tool_application(residency, tool.name),
                "tool": tool.name,
                "namespace": residency.namespace(tool.stage or entry.default_stage),
                "repo_url": entry.repo_url,
                "chart": entry.chart,
                "path": None,
                "target_revision": tool.version or entry.version,
                "helm_values": _merge(_thaw(entry.values), tool.values),
            }
        )
    for app in tooling.applications:
        applications.append(
            {
                "name": naming.tool_application(residency, app.name),
                "tool": None,
                "namespace": residency.namespace(app.stage),
                "repo_url": app.repo_url,
                "chart": app.chart,
                "path": app.path,
                "target_revision": app.target_revision,
                "helm_values": dict(app.values),
            }
        )
    repos = sorted({app["repo_url"] for app in applications})
    return {
        "enabled": bool(applications),
        "namespace": tooling.argocd_namespace,
        "repositories": _repositories(residency),
        # Stages an Application deploys to, labelled for the GitOps operator when asked.
        "managed_namespaces": sorted({app["namespace"] for app in applications})
        if tooling.managed_by_label
        else [],
        "project": residency.name,
        "source_repos": repos,
        "server": naming.IN_CLUSTER_SERVER,  # Argo CD's own cluster
        "destinations": [
            {"server": naming.IN_CLUSTER_SERVER, "namespace": residency.namespace(s)}
            for s in residency.stage_names()
        ],
        "applications": applications,
    }


def _repositories(residency: Residency) -> list[dict[str, Any]]:
    """Argo CD repository credentials, one per repository URL that names a credentials secret,
    scoped to the residency's project."""
    out: dict[str, dict[str, Any]] = {}
    for app in residency.spec.tooling.applications:
        if app.credentials_secret is None or app.repo_url in out:
            continue
        ssh = is_ssh_url(app.repo_url)
        out[app.repo_url] = {
            "name": f"{naming.tool_application(residency, app.name)}-repository",
            "url": app.repo_url,
            "type": "helm" if app.chart else "git",
            "ssh": ssh,
            "secret": app.credentials_secret,
            "username": app.credentials_username,
            "secret_key": "sshPrivateKey" if ssh else "password",
        }
    return list(out.values())


def is_ssh_url(url: str) -> bool:
    """`ssh://...` and scp-like `user@host:path` repository URLs."""
    return url.startswith("ssh://") or ("@" in url and "://" not in url)


def git_credential_host(url: str) -> str:
    """Tekton's `tekton.dev/git-0` value for a repository URL: `https://host[:port]` for HTTPS,
    `host[:port]` for SSH."""
    if not url:
        return ""
    if url.startswith("ssh://"):
        authority = url.removeprefix("ssh://").split("/")[0]
        return authority.rpartition("@")[2]
    if "://" not in url:
        return url.partition("@")[2].partition(":")[0]
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0]}"


def _thaw(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
