"""Generated docs are current; the CLI's exit codes and outputs are what the README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsctl import __version__, api
from labsctl.cli import main
from labsctl.docs import spec_reference

REPO = Path(__file__).resolve().parents[2]


def test_spec_reference_is_generated_from_the_model() -> None:
    assert (REPO / "docs" / "spec.md").read_text() == spec_reference(), (
        "docs/spec.md is stale: run python -m labsctl.docs"
    )


def test_committed_json_schema_is_the_one_labsctl_prints() -> None:
    assert (REPO / "docs" / "residency.schema.json").read_text() == api.schema_json(), (
        "docs/residency.schema.json is stale: run python -m labsctl.docs"
    )


def test_every_model_field_is_in_the_spec_reference() -> None:
    text = (REPO / "docs" / "spec.md").read_text()
    for definition in api.schema()["$defs"].values():
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in text, field


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert __version__ in out


def test_schema_command_prints_valid_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    assert code == 0
    assert json.loads(out)["$schema"].startswith("https://json-schema.org/")


def test_validate_exits_0_for_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", *map(str, sorted((REPO / "examples").glob("*.yaml")))], capsys)
    assert code == 0
    assert "2 specs valid" in err


def test_init_refuses_to_overwrite_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init", "team-a", "--dir", str(tmp_path)], capsys)[0] == 0
    code, _, err = run(["init", "team-a", "--dir", str(tmp_path)], capsys)
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert "Traceback" not in err


def test_invalid_residency_name_for_init_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["init", "Team_A", "--dir", str(tmp_path)], capsys)
    assert code == 2
    assert "DNS-1123" in err


def test_unknown_option_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--colour"], capsys)[0] == 2


def test_render_writes_the_inventory_and_reports_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        [
            "render",
            str(REPO / "examples" / "small-team.yaml"),
            "--output-dir",
            str(tmp_path),
            "-o",
            "json",
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert result["files"] == [
        "group_vars/all.yml",
        "host_vars/payments.objects.json",
        "host_vars/payments.yml",
        "hosts.yml",
    ]
    assert (tmp_path / "payments" / "hosts.yml").is_file()


def test_completion_prints_a_bash_script(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["completion", "bash"], capsys)
    assert code == 0
    assert "_LABSCTL_COMPLETE" in out


def test_rbac_names_exactly_one_subject(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["rbac"], capsys)
    assert code == 2
    assert "exactly one of --user, --group or --service-account" in err
    code, out, _ = run(["rbac", "--service-account", "ci/labsctl", "-o", "json"], capsys)
    assert code == 0
    kinds = [item["kind"] for item in json.loads(out)["items"]]
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Namespace", "Role", "RoleBinding"]
    role = json.loads(out)["items"][0]
    binds = [r for r in role["rules"] if "bind" in r["verbs"]]
    assert binds == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": [
                "admin",
                "edit",
                "view",
                "system:image-puller",
                "system:image-builder",
                "tekton-triggers-eventlistener-roles",
            ],
        }
    ]
    assert not any("*" in r["verbs"] for r in role["rules"])
    # Every kind may be listed (teardown's scan for objects labsctl did not create), nothing more.
    wildcards = [r for r in role["rules"] if "*" in r["resources"]]
    assert wildcards == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}]
