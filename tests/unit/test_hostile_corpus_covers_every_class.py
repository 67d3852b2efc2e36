"""The hostile-input corpus keeps a case for every class of attack on the rules of docs/security.md.

`tests/unit/test_bad_specs.py` checks each case of `tests/data/hostile-specs/` on its own; this
file checks that the corpus as a whole still covers every class, so that deleting a class (or most
of it) fails here instead of silently shrinking what the rules are tested against. Each class is
the file name prefix of its cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "hostile-specs"
# Class (file name prefix) -> least number of cases; the rule each class attacks.
MIN_CASES_PER_CLASS = {
    # system: users and groups, foreign service accounts, in members, groups and group users
    "subject-": 19,
    # reserved label domains (security, scheduling, ownership), subdomains included
    "label-": 21,
    "annotation-": 9,
    # platform namespaces and reserved residency names
    "namespace-": 15,
    # credentials, tokens, shell and git injection in pipelines.gitUrl and applications[].repoURL
    "url-": 43,
    # option and shell injection in targetRevision and tools[].version
    "revision-": 18,
    # the bootstrapper's environment variables and files outside the secrets directory
    "secret-source-": 27,
    # quotas and LimitRanges the API server would refuse half-way through an apply
    "quota-": 13,
    # dates outside the range every command can compute with
    "dates-": 4,
    # choices that are the operator's: kubeconfig context, Argo CD instance
    "operator-": 3,
    # cluster-wide groups created with createGroups, named like someone else's
    "group-": 2,
}
ATTACK_COMMENT = "# Attack: "


def _cases(prefix: str) -> list[Path]:
    return sorted(CORPUS.glob(f"{prefix}*.yaml"))


@pytest.mark.parametrize(("prefix", "minimum"), MIN_CASES_PER_CLASS.items())
def test_hostile_corpus_keeps_every_class_of_attack(prefix: str, minimum: int) -> None:
    names = [path.stem for path in _cases(prefix)]
    assert len(names) >= minimum, f"{prefix}* has {len(names)} cases, at least {minimum} expected"


@pytest.mark.parametrize("prefix", MIN_CASES_PER_CLASS)
def test_every_hostile_case_says_what_it_attacks_on_its_first_line(prefix: str) -> None:
    unexplained = [
        path.name
        for path in _cases(prefix)
        if not path.read_text(encoding="utf-8").startswith(ATTACK_COMMENT)
    ]
    assert unexplained == []


@pytest.mark.parametrize("prefix", MIN_CASES_PER_CLASS)
def test_every_hostile_case_has_a_non_empty_expected_message(prefix: str) -> None:
    missing = [
        path.name
        for path in _cases(prefix)
        if not path.with_suffix(".expected").is_file()
        or not path.with_suffix(".expected").read_text(encoding="utf-8").strip()
    ]
    assert missing == []
