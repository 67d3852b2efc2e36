"""labsctl: infrastructure as code for residency environments on Kubernetes and OpenShift.

The public API is one function per CLI verb; tests and other tools call these directly.
"""

from labsctl._version import __version__
from labsctl.api import (
    RenderResult,
    init,
    load_spec,
    load_specs,
    render,
    render_spec,
    schema,
    schema_json,
    validate,
)
from labsctl.errors import LabsctlError, SpecError, SpecProblem

__all__ = [
    "LabsctlError",
    "RenderResult",
    "SpecError",
    "SpecProblem",
    "__version__",
    "init",
    "load_spec",
    "load_specs",
    "render",
    "render_spec",
    "schema",
    "schema_json",
    "validate",
]
