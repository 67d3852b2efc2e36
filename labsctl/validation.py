"""Load residency specs and report every problem of every file at once.

Schema problems come from pydantic; problems across fields (dates, duplicates, references) from
`labsctl.semantics`. Each becomes a `SpecProblem` naming the file, line, column, dotted field
path, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from labsctl import naming, semantics
from labsctl.errors import SpecError, SpecProblem, UsageError
from labsctl.spec import (
    API_VERSION,
    DATE_MAX,
    DATE_MIN,
    DNS_LABEL,
    FILE_PATTERN,
    HOSTNAME_PATTERN,
    IMAGE_REPOSITORY_PATTERN,
    KIND,
    KNOWN_HOSTS_PATTERN,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
    MAX_RESIDENCY_NAME,
    QUANTITY_PATTERN,
    QUOTA_RESOURCE_PATTERN,
    QUOTA_RESOURCES,
    REPO_URL_PATTERN,
    REVISION_PATTERN,
    SUBJECT_PATTERN,
    TOKEN_PATTERN,
    RepoURL,
    Residency,
    Revision,
)
from labsctl.yamlsource import PathKey, YamlSource, YamlSourceError, load_yaml_mapping

PATTERN_HELP = {
    DNS_LABEL: "a DNS-1123 label: lower-case letters, digits and '-', starting and ending "
    "with a letter or digit",
    SUBJECT_PATTERN: "a user or group name: letters, digits and . _ @ : / # + = ~ -",
    QUANTITY_PATTERN: "a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi",
    REPO_URL_PATTERN: "a repository URL: https://HOST[:PORT]/PATH, ssh://[USER@]HOST[:PORT]/PATH "
    "or USER@HOST:PATH, with letters, digits and . _ ~ - / in the path (no spaces, quotes, "
    "shell characters, query or fragment)",
    FILE_PATTERN: "a relative path inside the operator's secrets directory: letters, digits, "
    "'/' and . _ @ + = -",
    REVISION_PATTERN: "a Git revision (branch, tag or commit) or chart version: letters, digits "
    "and . _ / + -, starting with a letter or digit",
    LABEL_VALUE_PATTERN: "a label value: at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit",
    QUOTA_RESOURCE_PATTERN: ", ".join(QUOTA_RESOURCES)
    + " or count/<resource>[.<group>] in lower-case DNS labels",
    LABEL_KEY_PATTERN: "a label key: an optional lower-case DNS prefix and '/', then at most 63 "
    "letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    IMAGE_REPOSITORY_PATTERN: "an image repository without tag or digest: "
    "REGISTRY[:PORT]/PATH in lower case, e.g. registry.example.com/team/app",
    KNOWN_HOSTS_PATTERN: "a known_hosts line: HOSTS KEY-TYPE BASE64-KEY (as `ssh-keyscan` "
    "prints it, without comment)",
    HOSTNAME_PATTERN: "a fully qualified host name in lower case, e.g. hooks.apps.example.com",
}
# What is allowed, for the errors the model raises itself (PydanticCustomError kinds).
CUSTOM_ALLOWED = {
    "url_credentials": "a URL without user info (other than an SSH user), query, fragment or "
    "token; list the credentials in spec.secrets and name them in the matching credentials field",
    "url_internal": "a repository on a Git or Helm server outside the cluster",
    "url_path": "a repository path without '.' or '..' segments",
    "repo_path": "a directory inside the repository: no '.' or '..' segments",
    "revision_token": "a branch, tag, commit or chart version; credentials go in spec.secrets",
    "git_ref": PATTERN_HELP[REVISION_PATTERN],
    "date_range": f"a date from {DATE_MIN.isoformat()} to {DATE_MAX.isoformat()}",
}
PATTERN_PROBLEM = {QUOTA_RESOURCE_PATTERN: "unknown quota resource"}
# Extra guidance for a field, added to what is allowed.
FIELD_HINTS = {
    "spec.stages": "leave stages out for the default ci-cd, dev and test",
}
_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date YYYY-MM-DD",
    "date_from_datetime_parsing": "a date YYYY-MM-DD",
    "date_parsing": "a date YYYY-MM-DD",
    "date_from_datetime_inexact": "a date YYYY-MM-DD without a time",
    "enum": None,
    "literal_error": None,
}


def load_spec(path: Path | str) -> Residency:
    """Load and fully validate one spec; raises SpecError listing all of its problems."""
    residency, problems = _check_file(Path(path))
    if problems or residency is None:
        raise SpecError(problems)
    return residency


def load_specs(paths: Iterable[Path | str]) -> list[Residency]:
    """Load several specs, reporting the problems of all files together."""
    residencies: list[Residency] = []
    problems: list[SpecProblem] = []
    loaded: list[tuple[Path, Residency]] = []
    for path in paths:
        residency, found = _check_file(Path(path))
        problems.extend(found)
        if residency is not None:
            residencies.append(residency)
            loaded.append((Path(path), residency))
    problems += _shared_names(loaded)
    if problems:
        raise SpecError(problems)
    names = [r.name for r in residencies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(
            [
                SpecProblem(
                    file="<arguments>",
                    path="metadata.name",
                    value=name,
                    message=f"residency {name!r} is given more than once",
                    allowed="each residency once per run",
                )
                for name in duplicates
            ]
        )
    return residencies


def residency_name(argument: Path | str) -> str:
    """The residency a command argument names: the name in a spec file when `argument` is
    one, else `argument` itself when it is a valid residency name (`teardown`, `export`)."""
    if Path(argument).is_file():
        return load_spec(argument).name
    if re.fullmatch(DNS_LABEL, str(argument)):
        return str(argument)
    raise UsageError(
        f"{str(argument)!r} is neither a spec file nor a residency name",
        hint="give a spec file, or the name of a residency (a DNS label such as payments)",
    )


def validate_files(paths: Iterable[Path | str]) -> list[SpecProblem]:
    """Every problem of every file, for `labsctl validate`; an empty list means all are valid.

    Files given together must also name different residencies.
    """
    problems: list[SpecProblem] = []
    first_file: dict[str, str] = {}
    loaded: list[tuple[Path, Residency]] = []
    for path in paths:
        residency, found = _check_file(Path(path))
        problems.extend(found)
        if residency is None:
            continue
        if residency.name not in first_file:
            loaded.append((Path(path), residency))
        if residency.name in first_file:
            problems.append(
                SpecProblem(
                    file=str(path),
                    path="metadata.name",
                    value=residency.name,
                    line=_name_line(Path(path)),
                    column=3,
                    message=f"the same residency is also defined in {first_file[residency.name]}",
                    allowed="a residency name not used by another file of this run",
                )
            )
        else:
            first_file[residency.name] = str(path)
    return problems + _shared_names(loaded)


def _derived_names(residency: Residency) -> list[tuple[PathKey, str, str, str]]:
    """(YAML location, kind, derived name, value written there) of the names a residency
    takes on the cluster."""
    names: list[tuple[PathKey, str, str, str]] = [
        (("spec", "stages", i, "name"), "namespace", residency.namespace(stage), stage)
        for i, stage in enumerate(residency.stage_names())
    ]
    names += [
        (loc, "Argo CD Application", name, name[len(residency.name) + 1 :])
        for loc, name in naming.application_names(residency)
    ]
    return names


def _shared_names(loaded: list[tuple[Path, Residency]]) -> list[SpecProblem]:
    """Residencies of one run may not derive the same namespace or Application name
    (`a` with stage `b-c` and `a-b` with stage `c` would share `a-b-c`)."""
    owner: dict[tuple[str, str], str] = {}
    problems: list[SpecProblem] = []
    for path, residency in loaded:
        for loc, kind, name, written in _derived_names(residency):
            other = owner.setdefault((kind, name), residency.name)
            if other == residency.name:
                continue
            try:
                line, column = load_yaml_mapping(path).locate(loc)
            except YamlSourceError:
                line, column = None, None
            problems.append(
                SpecProblem(
                    file=str(path),
                    path=dotted(loc),
                    value=written,
                    line=line,
                    column=column,
                    message=f"{kind} {name!r} is also derived by residency {other!r}",
                    allowed="names that do not collide with another residency's",
                )
            )
    return problems


_ADAPTERS: dict[str, TypeAdapter[str]] = {
    "repository URL": TypeAdapter(RepoURL),
    "revision": TypeAdapter(Revision),
}


def check_flag(value: str, what: str, flag: str) -> str:
    """A flag value (`--repo-url`, `--revision`) checked by the same rules as the spec's field;
    raises UsageError naming the flag and what is allowed, the value redacted."""
    try:
        return _ADAPTERS[what].validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        pattern = err.get("ctx", {}).get("pattern", "")
        allowed = PATTERN_HELP.get(pattern) or "a URL without user info, query, fragment or token"
        reason = str(err["msg"]) if err["type"] != "string_pattern_mismatch" else f"invalid {what}"
        raise UsageError(
            f"{flag} {_printable(value)!r}: {reason}", hint=f"allowed: {allowed}"
        ) from None


def _name_line(path: Path) -> int | None:
    try:
        return load_yaml_mapping(path).locate(("metadata", "name"))[0]
    except YamlSourceError:
        return None


def parse_spec(source: YamlSource) -> tuple[Residency | None, list[SpecProblem]]:
    try:
        residency = Residency.model_validate(source.data)
    except ValidationError as exc:
        problems = _merge_unions([_problem_from_pydantic(source, err) for err in exc.errors()])
        bad = [_data_path(source.data, tuple(err["loc"])) for err in exc.errors()]
        # Problems across fields are checked on the rest; nothing under the parent of a failed
        # field, where a default would stand in for what the author meant.
        parents = [loc[:-1] for loc in bad if len(loc) > 2]
        problems += _semantic_problems(source, _salvage(source.data, bad), exclude=tuple(parents))
        return None, _sorted(problems)
    found = _semantic_problems(source, residency)
    return (None if found else residency), _sorted(found)


def _semantic_problems(
    source: YamlSource, residency: Residency | None, exclude: tuple[PathKey, ...] = ()
) -> list[SpecProblem]:
    if residency is None:
        return []
    return [
        _located(source, issue.loc, issue.message, issue.value, issue.allowed)
        for issue in semantics.check(residency)
        if not any(_overlaps(issue.loc, loc) for loc in exclude)
    ]


def _overlaps(a: PathKey, b: PathKey) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _salvage(data: dict[str, Any], bad: list[PathKey]) -> Residency | None:
    """The model without the fields that failed, when it still validates; so that problems
    across fields are reported together with schema problems instead of one round later."""
    pruned = copy.deepcopy(data)
    for loc in bad:
        parent: Any = pruned
        for part in loc[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return None
        if not isinstance(parent, dict) or loc[-1] not in parent:
            return None  # a missing field or a bad list item: nothing sensible to remove
        del parent[loc[-1]]
    try:
        return Residency.model_validate(pruned)
    except ValidationError:
        return None


def _sorted(problems: list[SpecProblem]) -> list[SpecProblem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _check_file(path: Path) -> tuple[Residency | None, list[SpecProblem]]:
    try:
        source = load_yaml_mapping(path)
    except YamlSourceError as exc:
        return None, [
            SpecProblem(
                file=str(path),
                path="",
                message=exc.message,
                line=exc.line,
                column=exc.column,
                allowed=exc.allowed,
            )
        ]
    header = _header_problems(source)
    if header:
        return None, header
    return parse_spec(source)


def _header_problems(source: YamlSource) -> list[SpecProblem]:
    """apiVersion and kind first: with the wrong ones, the rest is not a residency spec."""
    problems = []
    for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        value = source.data.get(key)
        if value != expected:
            message = (
                f"missing required field {key!r}"
                if key not in source.data
                else f"unsupported {key}"
            )
            problems.append(_located(source, (key,), message, value, repr(expected)))
    return problems


def _located(
    source: YamlSource, loc: PathKey, message: str, value: Any, allowed: str | None
) -> SpecProblem:
    line, column = source.locate(loc)
    return SpecProblem(
        file=source.path,
        path=dotted(loc),
        message=message,
        line=line,
        column=column,
        value=_printable(value),
        allowed=allowed,
    )


def _merge_unions(problems: list[SpecProblem]) -> list[SpecProblem]:
    """A value failing every member of a union gives one problem listing what each allows."""
    merged: dict[str, SpecProblem] = {}
    for problem in problems:
        first = merged.get(problem.path)
        if first is None:
            merged[problem.path] = problem
        elif problem.allowed and first.allowed and problem.allowed not in first.allowed:
            merged[problem.path] = SpecProblem(
                file=first.file,
                path=first.path,
                line=first.line,
                column=first.column,
                value=first.value,
                message="value not allowed",
                allowed=f"{first.allowed} or {problem.allowed}",
            )
    return list(merged.values())


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_URL_PASSWORD = re.compile(r"^([a-z+]+://[^/@:]*:)[^/@]*(@)")
_URL_USERINFO = re.compile(r"^([a-z+]+://)?[^/?#@]*@")
_URL_QUERY = re.compile(r"([?#]).*$")
_SSH_USER = re.compile(r"^[a-z_][-a-z0-9_.]{0,31}$")
_URL_TOKEN = re.compile(TOKEN_PATTERN)


_LOOKS_LIKE_URL = re.compile(r"^([a-z+]+://|[^@\s/]+@[^:\s]+:)")


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme = match.group(1) or ""
    user = match.group(0)[len(scheme) : -1]
    if scheme in ("", "ssh://") and _SSH_USER.match(user):
        return match.group(0)  # an SSH user name such as git@ is no secret
    return f"{scheme}<redacted>@"


def redact_url(url: str) -> str:
    """A URL with its user info, query, fragment and anything token-like replaced."""
    url = _URL_USERINFO.sub(_redact_userinfo, url)
    url = _URL_QUERY.sub(r"\1<redacted>", url)
    return _URL_TOKEN.sub("<redacted>", url)


def dotted(loc: Iterable[str | int]) -> str:
    """`spec.team.members[0].role`; keys with dots or slashes as `labels["example.com/x"]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else part
    return out


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        if _LOOKS_LIKE_URL.match(value):
            return redact_url(value)
        return _URL_PASSWORD.sub(r"\1<redacted>\2", value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    return str(value)


def _problem_from_pydantic(source: YamlSource, err: Any) -> SpecProblem:
    loc = _data_path(source.data, tuple(err["loc"]))
    kind = err["type"]
    value = err.get("input")
    allowed: str | None = _TYPE_NAMES.get(kind)
    message = err["msg"]
    if kind == "extra_forbidden":
        fields = allowed_fields(loc[:-1])
        message = f"unknown field {loc[-1]!r}"
        allowed = "fields: " + ", ".join(fields) if fields else None
        value = None
    elif kind == "missing":
        message = f"missing required field {loc[-1]!r}"
        value = None
    elif kind in ("enum", "literal_error"):
        allowed = err.get("ctx", {}).get("expected")
        message = "value not allowed"
    elif kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        allowed = PATTERN_HELP.get(pattern, f"a string matching {pattern}")
        message = PATTERN_PROBLEM.get(pattern, "invalid value")
    elif kind in CUSTOM_ALLOWED:
        message = str(err["msg"])
        allowed = CUSTOM_ALLOWED[kind]
        if kind in ("url_credentials", "revision_token"):
            value = redact_url(str(value))
    elif kind == "too_short":
        minimum = err.get("ctx", {}).get("min_length", 1)
        message = "the list is empty" if value == [] else "the list is too short"
        allowed = f"at least {minimum} item{'s' if minimum != 1 else ''}"
    elif kind.startswith("date_"):
        message = "invalid date"
    elif kind == "string_too_long":
        limit = err.get("ctx", {}).get("max_length")
        if loc == ("metadata", "name"):
            message = (
                f"the residency name is longer than {MAX_RESIDENCY_NAME} characters; "
                "derived names such as <residency>-<stage> must stay within 63"
            )
        allowed = f"at most {limit} characters"
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", message))
    elif kind.endswith("_type") and allowed:
        message = f"wrong type: {_yaml_type(value)}"
    hint = FIELD_HINTS.get(dotted(loc))
    if hint and allowed:
        allowed = f"{allowed} ({hint})"
    return _located(source, loc, message, value, allowed)


_MISSING = object()


def _child(current: Any, part: str | int) -> Any:
    if isinstance(current, dict):
        return current.get(part, _MISSING)
    if isinstance(current, list) and isinstance(part, int) and part < len(current):
        return current[part]
    return _MISSING


def _data_path(data: Any, loc: PathKey) -> PathKey:
    """Drop the parts pydantic adds to a loc for union members (`bool`, `literal['auto']`...).

    Keeps every part that exists in the data, and the last part (a missing or unknown field).
    """
    kept: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        child = _child(current, part)
        if child is not _MISSING:
            current = child
        elif index < len(loc) - 1 or isinstance(current, list | str | int | float | bool):
            continue
        kept.append(part)
    return tuple(kept)


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__


def allowed_fields(loc: PathKey) -> list[str]:
    """The YAML field names allowed at `loc` (a path of YAML keys and list indexes)."""
    model: Any = Residency
    for part in loc:
        if isinstance(part, int):
            continue
        model = _field_model(model, part)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _field_model(model: Any, alias: str) -> Any:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for name, info in model.model_fields.items():
        if (info.alias or name) == alias:
            return _unwrap(info.annotation)
    return None


def _unwrap(annotation: Any) -> Any:
    """The model type inside `X | None`, `list[X]` and similar."""
    for arg in (*typing.get_args(annotation), annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = typing.get_args(arg)
        for sub in inner:
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                return sub
    return None
