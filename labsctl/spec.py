"""The residency spec: one pydantic model, the single source of truth.

Validation, defaults, `labsctl schema` (JSON Schema) and `docs/spec.md` all come from the classes
below. Field names are snake_case in Python and camelCase in YAML. Every model forbids unknown
fields and is strict, so `"3"` is not silently taken for `3` nor `yes` for `true`.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

API_VERSION = "labsctl.dev/v1alpha1"
KIND = "Residency"
MAX_RESIDENCY_NAME = 40
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:/#+=~-]*$"
QUANTITY_PATTERN = (
    r"^[+]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,2}|[KMGTPE]i|[mkMGTPE])?$"
)
# Repository URLs: a strict grammar, because they reach Git, Helm and Argo CD. No user info other
# than an SSH user name, no password, no query, no fragment, no shell or template characters.
_HOST = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
# Path segments never start with '-' (an option to git or ssh).
_REPO_PATH = r"[A-Za-z0-9._~][A-Za-z0-9._~-]*(/[A-Za-z0-9._~][A-Za-z0-9._~-]*)*/?"
REPO_URL_PATTERN = (
    rf"^(https://{_HOST}(:[0-9]{{1,5}})?(/|/{_REPO_PATH})?"
    rf"|ssh://([a-z_][-a-z0-9_.]*@)?{_HOST}(:[0-9]{{1,5}})?/{_REPO_PATH}"
    rf"|[a-z_][-a-z0-9_.]*@{_HOST}:{_REPO_PATH})$"
)
FILE_PATTERN = r"^[A-Za-z0-9._@+=-]+(/[A-Za-z0-9._@+=-]+)*$"
DATE_MIN = dt.date(2000, 1, 1)
DATE_MAX = dt.date(2999, 12, 31)
GRACE_PERIOD_MAX = 365
# The latest archive date a valid spec gives: end on DATE_MAX plus the longest grace period.
ARCHIVE_MAX = DATE_MAX + dt.timedelta(days=GRACE_PERIOD_MAX)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_TEMPLATE_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _plain_text(value: str) -> str:
    if _CONTROL_OR_NEWLINE.search(value):
        raise ValueError("must be one line without control characters")
    return _no_template(value)


def _multiline_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (newlines and tabs are fine)")
    return _no_template(value)


def _no_template(value: str) -> str:
    for marker in _TEMPLATE_MARKERS:
        if marker in value:
            raise ValueError(
                f"must not contain the template marker {marker!r}: spec values are data, "
                "never template code"
            )
    return value


Name = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL, min_length=1, max_length=63),
]
ResidencyName = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL, min_length=1, max_length=MAX_RESIDENCY_NAME),
]
Text = Annotated[str, StringConstraints(max_length=200), AfterValidator(_plain_text)]
LongText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_multiline_text)]
Subject = Annotated[
    str,
    StringConstraints(pattern=SUBJECT_PATTERN, max_length=253),
]
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=317)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)]
Quantity = Annotated[
    str,
    StringConstraints(pattern=QUANTITY_PATTERN),
]
QUOTA_RESOURCES = (
    "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage", "cpu", "memory", "pods",
    "services", "services.loadbalancers", "services.nodeports", "persistentvolumeclaims",
    "configmaps", "secrets", "replicationcontrollers", "resourcequotas",
)  # fmt: skip
# Resources counted in whole objects: the API server refuses fractions for them.
INTEGER_QUOTA_RESOURCES = (
    "pods", "services", "services.loadbalancers", "services.nodeports", "persistentvolumeclaims",
    "configmaps", "secrets", "replicationcontrollers", "resourcequotas",
)  # fmt: skip
_DNS_LABEL_PART = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
QUOTA_RESOURCE_PATTERN = (
    "^("
    + "|".join(r.replace(".", r"\.") for r in QUOTA_RESOURCES)
    + rf"|count/{_DNS_LABEL_PART}(\.{_DNS_LABEL_PART})*)$"
)
QuotaResource = Annotated[str, StringConstraints(pattern=QUOTA_RESOURCE_PATTERN)]


# Access tokens of the common Git hosts and clouds, wherever they appear in a URL.
_KNOWN_TOKEN = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|gl(dt|rt|ptt|cbt|imt|agent|soat)-[A-Za-z0-9_-]{10,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|ATBB[A-Za-z0-9]{20,}|AIza[0-9A-Za-z_-]{30,}"
)
# ...or a long opaque string, which a repository URL has no use for.
TOKEN_PATTERN = rf"({_KNOWN_TOKEN.pattern}|[A-Za-z0-9_-]{{40,}})"
_TOKEN = re.compile(TOKEN_PATTERN)


# Hosts a repository URL may not name: the cluster's own services and the machine itself, which
# Argo CD's repo server or a pipeline step would otherwise reach from inside the cluster.
_INTERNAL_HOST = re.compile(
    r"^(localhost|.*\.localhost|kubernetes(\.default)?(\.svc)?|.*\.svc|.*\.cluster\.local"
    r"|.*\.internal|metadata(\.google\.internal)?|[0-9.]+|\[.*\])$",
    re.IGNORECASE,
)
_HOST_OF = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]*@)?([^:/]+)")


def _no_credentials(url: str) -> str:
    if re.match(r"^[a-z+]+://[^/?#]*@", url) and not url.startswith("ssh://"):
        raise PydanticCustomError("url_credentials", "the URL carries credentials")
    if re.match(r"^([a-z+]+://)?[^/@]*:[^/@]*@", url) or "?" in url or "#" in url:
        raise PydanticCustomError("url_credentials", "the URL carries credentials")
    if _TOKEN.search(url):
        raise PydanticCustomError("url_credentials", "the URL carries what looks like a token")
    path = re.sub(r"^([a-z+]+://[^/]*|[^:]*:)", "", url)
    if any(segment in (".", "..") for segment in path.split("/")):
        raise PydanticCustomError("url_path", "the URL path has '.' or '..' segments")
    host = _HOST_OF.match(url)
    if host and _INTERNAL_HOST.match(host.group(1)):
        raise PydanticCustomError(
            "url_internal", "the URL names a host inside the cluster or the machine itself"
        )
    return url


RepoURL = Annotated[
    str,
    AfterValidator(_no_credentials),
    StringConstraints(pattern=REPO_URL_PATTERN, max_length=500),
]
REVISION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$"


def _git_ref(value: str) -> str:
    """The rules of `git check-ref-format` that the pattern cannot say; and no token."""
    if _KNOWN_TOKEN.search(value):
        raise PydanticCustomError("revision_token", "the revision looks like a token")
    parts = value.split("/")
    if (
        ".." in value
        or value.endswith(("/", "."))
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
    ):
        raise PydanticCustomError(
            "git_ref",
            "not a valid revision: no '..', no empty part or '//', no part starting with '.' or "
            "ending in '.lock', not ending in '/' or '.'",
        )
    return value


Revision = Annotated[
    str, StringConstraints(pattern=REVISION_PATTERN, max_length=200), AfterValidator(_git_ref)
]


def _inside_repository(path: str) -> str:
    if any(segment in (".", "..") for segment in path.split("/")):
        raise PydanticCustomError("repo_path", "the path has '.' or '..' segments")
    return path


RepoPath = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._][A-Za-z0-9._/-]*$", max_length=500),
    AfterValidator(_inside_repository),
]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
FileRef = Annotated[
    str,
    StringConstraints(pattern=FILE_PATTERN, max_length=1000),
]


class Role(StrEnum):
    """The built-in Kubernetes ClusterRoles a team member or group is bound to."""

    ADMIN = "admin"
    EDIT = "edit"
    VIEW = "view"

    @property
    def rank(self) -> int:
        return {"view": 0, "edit": 1, "admin": 2}[self.value]


class Flavour(StrEnum):
    AUTO = "auto"
    KUBERNETES = "kubernetes"
    OPENSHIFT = "openshift"


class QuotaProfile(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"
    CUSTOM = "custom"


QUOTA_PROFILES: dict[str, dict[str, str]] = {
    "small": {
        "requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi",
        "pods": "20", "persistentvolumeclaims": "5", "requests.storage": "20Gi",
    },
    "medium": {
        "requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8", "limits.memory": "16Gi",
        "pods": "50", "persistentvolumeclaims": "10", "requests.storage": "50Gi",
    },
    "large": {
        "requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16", "limits.memory": "32Gi",
        "pods": "100", "persistentvolumeclaims": "20", "requests.storage": "100Gi",
    },
    "custom": {},
}  # fmt: skip


# Enums read from YAML strings; strict mode would only take enum instances.
RoleName = Annotated[Role, Field(strict=False)]
FlavourName = Annotated[Flavour, Field(strict=False)]
ProfileName = Annotated[QuotaProfile, Field(strict=False)]


class SpecModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


class Metadata(SpecModel):
    name: ResidencyName
    """The residency's name; every namespace is `<name>-<stage>`."""
    labels: dict[LabelKey, LabelValue] = Field(default={}, examples=[{"cost-centre": "cc-1234"}])
    """Extra labels put on every object labsctl creates (ownership labels cannot be overridden)."""
    annotations: dict[LabelKey, Text] = Field(default={})
    """Extra annotations put on every object labsctl creates."""


def _date_in_range(value: dt.date | None) -> dt.date | None:
    if value is not None and not DATE_MIN <= value <= DATE_MAX:
        raise PydanticCustomError(
            "date_range", "the date is outside the range every command can compute with"
        )
    return value


Day = Annotated[dt.date, Field(strict=False), AfterValidator(_date_in_range)]


class Dates(SpecModel):
    start: Annotated[Day, Field(examples=["2026-11-02"])]
    """First day of the residency (YYYY-MM-DD, from 2000-01-01 to 2999-12-31)."""
    end: Annotated[Day, Field(examples=["2027-01-29"])]
    """Last day the team has access (YYYY-MM-DD); after it the residency is frozen."""
    archive: Day | None = None
    """Day from which everything may be deleted; defaults to `end` plus `gracePeriodDays`."""
    grace_period_days: Annotated[int, Field(ge=0, le=GRACE_PERIOD_MAX)] = 30
    """Days between `end` and the default `archive` date."""
    ending_soon_days: Annotated[int, Field(ge=0, le=90)] = 14
    """How many days before `end` the phase becomes `ending-soon`."""

    @property
    def archive_date(self) -> dt.date:
        return self.archive or self.end + dt.timedelta(days=self.grace_period_days)


class Member(SpecModel):
    user: Subject
    """User name as the identity provider reports it."""
    role: RoleName = Role.EDIT
    """Role in every stage (capped by the stage's `maxRole`)."""


class TeamGroup(SpecModel):
    name: Subject
    """Group name as the identity provider reports it."""
    role: RoleName = Role.EDIT
    """Role in every stage (capped by the stage's `maxRole`)."""
    users: list[Subject] = Field(default=[])
    """Users of the OpenShift `Group` object, used only with `team.createGroups`."""


class Team(SpecModel):
    members: list[Member] = Field(default=[])
    """People, each bound to a role in every stage."""
    groups: list[TeamGroup] = Field(default=[])
    """Identity-provider groups, each bound to a role in every stage."""
    create_groups: bool = False
    """Create the groups as OpenShift `user.openshift.io/v1` Group objects (OpenShift only);
    their names must then start with `<residency>-`."""


class LimitDefaults(SpecModel):
    cpu: Quantity
    memory: Quantity


class LimitRangeSpec(SpecModel):
    default_request: LimitDefaults = LimitDefaults(cpu="100m", memory="128Mi")
    """Requests given to containers that set none."""
    default: LimitDefaults = LimitDefaults(cpu="500m", memory="512Mi")
    """Limits given to containers that set none."""


class Quota(SpecModel):
    profile: ProfileName = QuotaProfile.SMALL
    """A preset for the ResourceQuota: small, medium, large, or custom (only `hard`)."""
    hard: dict[QuotaResource, Quantity] = Field(default={}, examples=[{"pods": "30"}])
    """Explicit ResourceQuota limits, added to or overriding the profile's."""
    limit_range: LimitRangeSpec = LimitRangeSpec()
    """Container defaults for the LimitRange."""

    def effective_hard(self) -> dict[str, str]:
        return {**QUOTA_PROFILES[self.profile.value], **self.hard}


class Stage(SpecModel):
    name: Name
    """Stage name; the namespace is `<residency>-<name>`."""
    description: Text | None = None
    """Shown as the namespace description on OpenShift."""
    max_role: RoleName | None = None
    """Cap for every member's and group's role in this stage (e.g. `view` in a prod-like stage)."""
    quota: Quota | None = None
    """Quota for this stage instead of `spec.quota`."""


class Network(SpecModel):
    isolation: bool = True
    """Default-deny ingress, allowing only the same namespace, ci-cd and the ingress namespaces."""
    ingress_namespaces: list[Name] = Field(default=["ingress-nginx"])
    """Namespaces of the ingress controller allowed in (the OpenShift router is always allowed)."""


ImageRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._/:@-]*$", max_length=300)]
# An image repository without tag or digest: `registry.example.com:5000/team/app`.
IMAGE_REPOSITORY_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?"
    r"(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)+$"
)
ImageRepository = Annotated[
    str, StringConstraints(pattern=IMAGE_REPOSITORY_PATTERN, max_length=200)
]
# One known_hosts line: host patterns, key type, base64 key; no comment, no options.
KNOWN_HOSTS_PATTERN = (
    r"^(@cert-authority )?[A-Za-z0-9.,:\[\]*?!-]+ "
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}$"
)
KnownHost = Annotated[str, StringConstraints(pattern=KNOWN_HOSTS_PATTERN, max_length=2000)]
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
Hostname = Annotated[str, StringConstraints(pattern=HOSTNAME_PATTERN, max_length=253)]
GitUser = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$", max_length=100)
]


class PipelineImages(SpecModel):
    git: ImageRef = "docker.io/alpine/git:v2.47.2"
    """Image of the clone step and of the deploy's preparing step (needs git and a shell)."""
    buildah: ImageRef = "quay.io/buildah/stable:v1.39.0"
    """Image of the build-and-push step."""
    kubectl: ImageRef = "registry.k8s.io/kubectl:v1.37.2"
    """Image of the deploy step (Kubernetes' own kubectl image; needs no shell)."""


class WebhookProvider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"


ProviderName = Annotated[WebhookProvider, Field(strict=False)]


class Webhook(SpecModel):
    provider: ProviderName
    """Git hosting that sends the push events: `github` or `gitlab` (its Tekton Triggers
    ClusterInterceptor verifies each event with the secret)."""
    secret: Name
    """Name of an entry of `spec.secrets` holding the webhook secret (GitHub's secret, GitLab's
    secret token)."""
    host: Hostname | None = None
    """Host name of the listener's Route (OpenShift; generated when unset) or Ingress
    (Kubernetes; no Ingress is made without it)."""


class Pipelines(SpecModel):
    enabled: bool | Literal["auto"] = "auto"
    """Tekton pipelines: `true` requires the Tekton API, `auto` installs them where it exists."""
    stage: Name = "ci-cd"
    """Stage whose namespace runs the pipelines."""
    deploy_to: list[Name] | None = None
    """Stages the pipeline service account may deploy to (edit role there, nothing more);
    when not set, every stage except the pipeline's own."""
    service_account: Name = "pipeline"
    """Name of the pipeline ServiceAccount."""
    git_url: RepoURL | None = None
    """Default source repository of the build pipeline."""
    git_credentials_secret: Name | None = None
    """Name of an entry of `spec.secrets` holding the Git credentials: a token or password for
    an `https://` URL, a private key for an SSH URL."""
    git_username: GitUser = "git"
    """User name sent with the token or password of an `https://` Git URL."""
    git_known_hosts: list[KnownHost] = Field(default=[], max_length=20)
    """Lines of `known_hosts` (`host key-type key`) of the Git server; needed with SSH Git
    credentials, so that the clone never trusts an unknown host key."""
    image: ImageRepository | None = None
    """Image repository the pipeline pushes to, without tag: each build is tagged with its Git
    revision and deployed by digest."""
    registry_credentials_secret: Name | None = None
    """Name of an entry of `spec.secrets` holding a Docker config JSON
    (`{"auths": {...}}`) to push to `image`."""
    webhook: Webhook | None = None
    """Build on every push: an EventListener that verifies the Git host's signed events (needs
    `gitUrl` and `image`)."""
    manifests: RepoPath = "deploy"
    """Directory of the repository with the manifests (or kustomization) the pipeline deploys."""
    images: PipelineImages = PipelineImages()
    """Container images of the pipeline's steps (point them at a mirror when air-gapped)."""


class Tool(SpecModel):
    name: Name
    """A tool from the catalogue (`labsctl schema` lists them in `catalogue`)."""
    stage: Name | None = None
    """Stage the tool is installed in; defaults to the catalogue's stage (ci-cd)."""
    version: Revision | None = None
    """Chart version instead of the catalogue's pinned one."""
    values: dict[str, Any] = Field(default={})
    """Helm values merged over the catalogue's; data only, never templated."""


class Application(SpecModel):
    name: Name
    """Application name; the Argo CD Application is `<residency>-<name>`."""
    stage: Name
    """Stage (namespace) the application is deployed to."""
    repo_url: RepoURL = Field(alias="repoURL")
    """Git repository or Helm chart repository."""
    path: RepoPath | None = None
    """Directory in a Git repository (for a Git source)."""
    chart: Name | None = None
    """Chart name (for a Helm repository source)."""
    target_revision: Revision = "HEAD"
    """Git revision or chart version."""
    values: dict[str, Any] = Field(default={})
    """Helm values; data only, never templated."""
    credentials_secret: Name | None = None
    """Name of an entry of `spec.secrets` holding repository credentials: a token or password
    for an `https://` URL, a private key for an SSH URL. Argo CD gets them as a repository
    secret scoped to the residency's project."""
    credentials_username: GitUser = "git"
    """User name sent with the token or password of an `https://` repository."""


class Tooling(SpecModel):
    argocd_namespace: Name = "argocd"
    """Namespace where Argo CD runs and where the AppProject and Applications are created; one
    the operator allows in `LABSCTL_ARGOCD_NAMESPACES` (default `argocd`, `openshift-gitops`)."""
    managed_by_label: bool = True
    """Label the stages Applications deploy to with `argocd.argoproj.io/managed-by:
    <argocdNamespace>`, which the OpenShift GitOps operator needs to let that Argo CD deploy
    there."""
    tools: list[Tool] = Field(default=[])
    """Tools from the catalogue."""
    applications: list[Application] = Field(default=[])
    """Any other Git or Helm application."""


class Cluster(SpecModel):
    flavour: FlavourName = Flavour.AUTO
    """`auto` discovers OpenShift through its APIs; set it to insist on one."""
    context: Text | None = None
    """kubeconfig context for this residency (lets one inventory span several clusters); only
    one the operator allows in `LABSCTL_ALLOWED_CONTEXTS`."""


class SecretRef(SpecModel):
    name: Name
    """Name other fields use to refer to this secret."""
    env: EnvName | None = None
    """Environment variable holding the value when labsctl runs, named for the residency:
    `PAYMENTS_GIT_TOKEN` for residency `payments`."""
    file: FileRef | None = None
    """File holding the value when labsctl runs: a relative path in the residency's directory
    of the operator's secrets directory (`--secrets-dir`, `LABSCTL_SECRETS_DIR`)."""
    description: Text | None = None


class ResidencySpec(SpecModel):
    display_name: Text | None = None
    """Human name of the residency; defaults to `metadata.name`."""
    organisation: Text
    """Customer or organisation the team comes from."""
    description: LongText | None = None
    """What the residency is about."""
    dates: Dates
    team: Team
    stages: list[Stage] = Field(
        default=[Stage(name="ci-cd"), Stage(name="dev"), Stage(name="test")], min_length=1
    )
    """Stages, each a namespace `<residency>-<stage>`."""
    quota: Quota = Quota()
    """Default quota of every stage."""
    network: Network = Network()
    pipelines: Pipelines = Pipelines()
    tooling: Tooling = Tooling()
    cluster: Cluster = Cluster()
    secrets: list[SecretRef] = Field(default=[])
    """References to secrets (environment variables or files); never the values."""


class Residency(SpecModel):
    """A residency: a team's time-boxed, isolated environment on a cluster."""

    model_config = ConfigDict(title="Residency")

    api_version: Literal["labsctl.dev/v1alpha1"]
    kind: Literal["Residency"]
    metadata: Metadata
    spec: ResidencySpec

    @property
    def name(self) -> str:
        return self.metadata.name

    def namespace(self, stage: str) -> str:
        return f"{self.metadata.name}-{stage}"

    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.spec.stages]

    def deploy_stages(self) -> list[str]:
        """Stages the pipeline may deploy to, the default resolved."""
        pipelines = self.spec.pipelines
        if pipelines.deploy_to is not None:
            return list(pipelines.deploy_to)
        return [name for name in self.stage_names() if name != pipelines.stage]

    def stage_quota(self, stage: Stage) -> Quota:
        return stage.quota or self.spec.quota
