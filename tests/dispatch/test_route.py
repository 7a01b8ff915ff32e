"""The routing tree: inherited options, keys and ids, depth-first matching with continue."""

from __future__ import annotations

from typing import Any

from promalert.config.routing import RootRouteConfig
from promalert.dispatch.route import Route
from promalert.model import Labels

TREE: dict[str, Any] = {
    "receiver": "default",
    "group_by": ["alertname"],
    "group_wait": "10s",
    "flapping": {"changes": 3, "window": "10m"},
    "routes": [
        {
            "matchers": ['severity=~"critical|high"'],
            "receiver": "pager",
            "continue": True,
            "group_interval": "1m",
            "mute_time_intervals": ["night"],
            "routes": [
                {"match": {"team": "db"}, "receiver": "dba", "group_by": ["..."]},
                {"match": {"team": "db"}, "receiver": "never"},  # shadowed by its sibling
            ],
        },
        {"match_re": {"team": "db|web"}, "repeat_interval": "1h", "group_by": []},
        {"match": {"team": "web"}, "receiver": "web"},
    ],
}


def tree() -> Route:
    return Route.from_config(RootRouteConfig.model_validate(TREE))


def matched(labels: dict[str, str]) -> list[str]:
    return [r.receiver for r in tree().match(Labels(labels))]


def test_children_inherit_unset_options_but_not_time_intervals() -> None:
    root = tree()
    pager, teams, _ = root.routes
    dba = pager.routes[0]
    assert (pager.group_wait, pager.group_interval, pager.repeat_interval) == (10.0, 60.0, 14400.0)
    assert (dba.group_interval, dba.receiver) == (60.0, "dba")
    assert pager.mute_time_intervals == ("night",) and dba.mute_time_intervals == ()
    assert dba.group_by_all and not pager.group_by_all
    # An empty group_by list is "not set" in Alertmanager: the parent's grouping stays.
    assert (teams.receiver, teams.group_by, teams.repeat_interval) == (
        "default",
        frozenset({"alertname"}),
        3600.0,
    )
    assert dba.flapping is not None and dba.flapping.changes == 3


def test_keys_and_ids_are_alertmanagers() -> None:
    root = tree()
    pager = root.routes[0]
    assert root.key == root.id == "{}"
    assert pager.key == '{}/{severity=~"critical|high"}'
    assert pager.id == '{}/{severity=~"critical|high"}/0'
    twins = pager.routes
    assert twins[0].key == twins[1].key == '{}/{severity=~"critical|high"}/{team="db"}'
    assert twins[0].id != twins[1].id
    # match_re values are anchored in keys, as Alertmanager prints them.
    assert root.routes[1].key == '{}/{team=~"^(?:db|web)$"}'


def test_first_match_wins_unless_continue() -> None:
    assert matched({"severity": "critical", "team": "db"}) == ["dba", "default"]
    assert matched({"severity": "high", "team": "web"}) == ["pager", "default"]
    assert matched({"severity": "warning", "team": "web"}) == ["default"]
    assert matched({"team": "ops"}) == ["default"]


def test_group_labels_follow_group_by() -> None:
    labels = Labels({"alertname": "A", "instance": "x", "severity": "critical", "team": "db"})
    pager, teams, _ = tree().routes
    assert pager.group_labels(labels) == {"alertname": "A"}
    assert pager.routes[0].group_labels(labels) == labels
    assert teams.group_labels(Labels({"instance": "x"})) == {}


def test_walk_visits_depth_first() -> None:
    receivers = [r.receiver for _, r in tree().walk()]
    assert receivers == ["default", "pager", "dba", "never", "default", "web"]
