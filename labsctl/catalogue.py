"""The catalogue of tools a residency can ask for by name, each pinned to one chart release.

A residency lists tools by name (`spec.tooling.tools[].name`); labsctl turns each into an Argo CD
Application from the entry here. Versions are pinned so that two residencies asking for
`sonarqube` get the same thing; a spec may override `version` and add Helm values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class CatalogueTool:
    """One known tool: where its Helm chart lives and how it is installed by default."""

    name: str
    description: str
    repo_url: str
    chart: str
    version: str
    default_stage: str
    values: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))


TOOLS: MappingProxyType[str, CatalogueTool] = MappingProxyType(
    {
        tool.name: tool
        for tool in (
            CatalogueTool(
                name="nexus",
                description="Sonatype Nexus Repository: artefact and container image repository",
                repo_url="https://sonatype.github.io/helm3-charts/",
                chart="nexus-repository-manager",
                version="64.2.0",
                default_stage="ci-cd",
                values=MappingProxyType({"nexus": {"resources": {"requests": {"cpu": "500m"}}}}),
            ),
            CatalogueTool(
                name="sonarqube",
                description="SonarQube Community Edition: static analysis and quality gates",
                repo_url="https://SonarSource.github.io/helm-chart-sonarqube",
                chart="sonarqube",
                # The chart repository's index names this release with its build number.
                version="10.6.0+3033",
                default_stage="ci-cd",
                values=MappingProxyType({"edition": "community"}),
            ),
            CatalogueTool(
                name="pact-broker",
                description="Pact Broker: consumer-driven contract testing",
                repo_url="https://pact-foundation.github.io/pact-broker-chart/",
                chart="pact-broker",
                version="3.1.1",
                default_stage="ci-cd",
            ),
        )
    }
)


def known_tools() -> list[str]:
    return sorted(TOOLS)
