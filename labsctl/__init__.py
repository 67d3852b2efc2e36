"""labsctl: infrastructure as code for residency environments on Kubernetes and OpenShift.

The public API is one function per CLI verb (defined in, or re-exported by, `labsctl.api`);
tests, pipelines and an AWX plugin call these directly, and the CLI only parses, calls and
formats. Cluster verbs take a `Target` (`resolve_target(kubeconfig, context, ...)`), report
progress through callbacks and never print.

| Verb | Function |
|---|---|
| `init` | `init` |
| `validate` | `validate` |
| `schema` | `schema` (`schema_json`) |
| `render` | `render_spec` (`render`: one residency in memory) |
| `apply` | `apply` |
| `plan` / `diff` | `plan` |
| `status` | `status` (`find`, `check_drift`; `fleet_report` for `-o html` / `openmetrics`) |
| `freeze` | `freeze` |
| `extend` | `extend` |
| `export` | `export` (`residency_name` reads a SPEC|NAME argument) |
| `teardown` | `teardown`, `teardown_plan` |
| `rbac` | `rbac_manifests` |
| `sandbox up`, `down`, `status`, `kubeconfig` | `sandbox_up`, `sandbox_down`, ... |

`apply`, `status`, `extend`, `export` (and `render`) are also the names of submodules: the
package attribute is the function, so import a module's other names from the module itself
(`from labsctl.apply import ApplySummary`), never as `from labsctl import apply`.
"""

from labsctl._version import __version__
from labsctl.api import (
    ApplySummary,
    Cluster,
    ExportResult,
    Extension,
    FleetReport,
    RenderResult,
    ResidencyStatus,
    ResidencySummary,
    StatusReport,
    Target,
    TeardownResult,
    apply,
    check_drift,
    export,
    extend,
    find,
    fleet_report,
    freeze,
    init,
    load_spec,
    load_specs,
    plan,
    rbac_manifests,
    render,
    render_spec,
    residency_name,
    resolve_target,
    sandbox_down,
    sandbox_kubeconfig,
    sandbox_status,
    sandbox_up,
    schema,
    schema_json,
    status,
    teardown,
    teardown_plan,
    validate,
)
from labsctl.errors import LabsctlError, SpecError, SpecProblem

__all__ = [
    "ApplySummary",
    "Cluster",
    "ExportResult",
    "Extension",
    "FleetReport",
    "LabsctlError",
    "RenderResult",
    "ResidencyStatus",
    "ResidencySummary",
    "SpecError",
    "SpecProblem",
    "StatusReport",
    "Target",
    "TeardownResult",
    "__version__",
    "apply",
    "check_drift",
    "export",
    "extend",
    "find",
    "fleet_report",
    "freeze",
    "init",
    "load_spec",
    "load_specs",
    "plan",
    "rbac_manifests",
    "render",
    "render_spec",
    "residency_name",
    "resolve_target",
    "sandbox_down",
    "sandbox_kubeconfig",
    "sandbox_status",
    "sandbox_up",
    "schema",
    "schema_json",
    "status",
    "teardown",
    "teardown_plan",
    "validate",
]
