"""docs/install.md reads as one path, in the order a platform team takes it, and what it tells
them to apply exists and is valid: the directories render, the PolicySettings it shows load."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.test_deploy import REPO, render
from webhook.policy.load import parse_policy_set

GUIDE = (REPO / "docs" / "install.md").read_text()
PATH = [
    "The image",
    "Your overlay: the node pool and your policies",
    "Certificates",
    "Apply",
    "Verify",
    "Monitoring for your cloud",
    "Audit the whole set",
    "Enforce",
    "Upgrade",
    "Roll back",
]


def test_the_guide_is_one_path_in_order() -> None:
    numbered = re.findall(r"^## (\d+)\. (.+)$", GUIDE, re.MULTILINE)
    assert [title for _, title in numbered] == PATH
    assert [int(n) for n, _ in numbered] == list(range(1, len(PATH) + 1))
    summary = GUIDE[: GUIDE.index("## 1. ")]
    steps = re.findall(r"^# (\d+)\. ", summary, re.MULTILINE)
    # 0 reads the cluster before anything is installed ("Reading the cluster"); 9 and 10 share
    # a line.
    assert [int(s) for s in steps] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_every_directory_the_guide_applies_renders() -> None:
    named = set(re.findall(r"kubectl apply -k (deploy/[\w/-]+?)/?[\s`]", GUIDE))
    assert {
        "deploy/monitoring",
        "deploy/monitoring/gke-managed-prometheus",
        "deploy/cert-manager",
    } <= named, named
    for directory in named:
        assert render(REPO / directory), directory


def test_the_audit_settings_it_shows_load_as_an_audited_set() -> None:
    start = GUIDE.index("### Start in audit")
    block = GUIDE[start:].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(block)["spec"]["mode"] == "audit"
    policy_set = parse_policy_set([("00-settings.yaml", block.encode())])
    assert policy_set.settings.mode == "audit"


def test_the_roll_back_section_names_both_things_to_roll_back() -> None:
    section = GUIDE[GUIDE.index("## 10. Roll back") : GUIDE.index("## What gets installed")]
    for words in ("The policies", "The image", "last good set", "rollout undo", "mode: audit"):
        assert words in section, words


def test_the_changelog_it_points_to_exists() -> None:
    assert "(../CHANGELOG.md)" in GUIDE and Path(REPO / "CHANGELOG.md").is_file()
