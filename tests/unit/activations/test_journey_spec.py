"""Journey declarations: the project's journeys are valid, and each kind of mistake is one line naming the file
and the key (through the real `outflow journey validate` command)."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from activations.journeys.spec import load_journeys
from outflow.cli import app

GOOD = """
name: j
description: d
owner: o@example.com
entry: {segment: customers}
steps:
  - id: hello
    send: {sync: journey_messages_braze, message: hello}
  - id: wait
    delay: 2 days
  - id: route
    branch:
      - when: {field: lead_score, op: ">=", value: 80}
        next: hello
      - default: bye
  - id: bye
    exit: true
"""


def _validate(tmp_path, text: str) -> tuple[int, str]:
    (tmp_path / "j.yml").write_text(textwrap.dedent(text))
    result = CliRunner().invoke(app, ["journey", "validate", "--dir", str(tmp_path)])
    return result.exit_code, result.output


def test_project_journeys_are_valid():
    names = [j.name for j in load_journeys()]
    assert names == ["lead_nurture", "welcome", "winback"]


def test_a_good_journey_validates(tmp_path):
    code, out = _validate(tmp_path, GOOD)
    assert code == 0, out
    assert "1 journeys valid" in out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("entry: {segment: customers}", "entry: {segment: customerz}"), "entry.segment: unknown segment 'customerz'"),
        (
            ("sync: journey_messages_braze", "sync: nope_braze"),
            "steps[0] (hello).send.sync: unknown sync 'nope_braze'",
        ),
        (
            ("sync: journey_messages_braze", "sync: vip_sendgrid"),
            "steps[0] (hello).send.sync: sync 'vip_sendgrid' reads",
        ),
        (("- default: bye", "- default: byebye"), "steps[2] (route).branch[1]: unknown step 'byebye'"),
        (("delay: 2 days", "delay: soon"), "steps[1] (wait).delay"),
        (
            ("  - id: bye\n    exit: true", "  - id: bye\n    exit: true\n    colour: red"),
            "steps[3] (bye).colour: unknown key",
        ),
    ],
)
def test_bad_references_are_one_line_naming_file_and_key(tmp_path, change, expected):
    code, out = _validate(tmp_path, GOOD.replace(*change))
    assert code == 1
    assert len(out.strip().splitlines()) == 1, out
    assert "j.yml: " in out and expected in " ".join(out.split()), out


def test_a_loop_with_no_delay_is_refused(tmp_path):
    bad = GOOD.replace("  - id: wait\n    delay: 2 days\n", "  - id: wait\n    update: {trait: t, value: x}\n")
    code, out = _validate(tmp_path, bad)
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert "j.yml: steps[0] (hello): the steps hello -> wait -> route -> hello form a loop with no delay" in " ".join(
        out.split()
    )


def test_a_split_not_summing_to_100_is_refused(tmp_path):
    bad = GOOD.replace(
        "  - id: wait\n",
        "  - id: ab\n    split:\n      - {arm: a, percent: 50, next: wait}\n"
        "      - {arm: b, percent: 40, next: wait}\n  - id: wait\n",
    )
    code, out = _validate(tmp_path, bad)
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert "j.yml: steps[1] (ab).split: the percentages add up to 90; they must add up to 100" in " ".join(out.split())
