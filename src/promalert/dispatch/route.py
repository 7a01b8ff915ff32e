"""The routing tree as Alertmanager 0.25 builds and walks it (``dispatch/route.go``).

Each node's options are resolved at build time: a child inherits its parent's receiver,
grouping and timing unless it sets its own; ``mute_time_intervals`` and
``active_time_intervals`` are never inherited (as in Alertmanager); promalert's noise
control (``flapping``, ``storm``) is inherited like the timing options.

An alert goes down the tree depth first: the first matching child takes it unless that
child has ``continue: true``, in which case later siblings are tried too; a node none of
whose children match takes the alert itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from promalert.config.matchers import Matcher, matchers_string
from promalert.config.routing import FlappingConfig, RouteConfig, StormConfig
from promalert.model import Labels

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """A node of the routing tree with its resolved options; the root matches every alert."""

    receiver: str
    # The escalation policy whose incidents this route's groups open ("" for none).
    escalation: str = ""
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    # Alertmanager's Route.Key(): parent keys and matchers; "{}" for the root.
    key: str = "{}"
    # Alertmanager's Route.ID(): the key plus sibling positions, unique in the tree.
    id: str = "{}"
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = field(default=())
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    flapping: FlappingConfig | None = None
    storm: StormConfig | None = None

    @classmethod
    def from_config(cls, config: RouteConfig) -> Route:
        """The whole tree below the root ``config``, options resolved."""
        return _build(config, None, -1)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that take an alert with ``labels``, in tree order."""
        for m in self.matchers:
            if not m.matches(labels.get(m.name, "")):
                return []
        found: list[Route] = []
        for child in self.routes:
            taken = child.match(labels)
            found += taken
            if taken and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Labels) -> Labels:
        """The labels that name the alert's group on this route."""
        if self.group_by_all:
            return labels
        return Labels({k: v for k, v in labels.items() if k in self.group_by})

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Route]]:
        """This route and every route below it, depth first, with their depth."""
        yield depth, self
        for child in self.routes:
            yield from child.walk(depth + 1)


def _build(config: RouteConfig, parent: Route | None, index: int) -> Route:
    """One node, inheriting unset options from ``parent`` (Alertmanager's ``NewRoute``)."""
    matchers = config.all_matchers()
    own = matchers_string(matchers)
    key = own if parent is None else f"{parent.key}/{own}"
    route_id = own if parent is None else f"{parent.id}/{own}/{index}"
    base = parent or Route(receiver="")
    group_by, group_by_all = base.group_by, base.group_by_all
    if config.group_by is not None:
        names = frozenset(n for n in config.group_by if n != "...")
        if names:
            group_by, group_by_all = names, False
        elif config.group_by_all:
            # As in Alertmanager, '...' keeps the inherited names but overrides them.
            group_by_all = True
    node = Route(
        receiver=config.receiver or base.receiver,
        escalation=config.escalation or base.escalation,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=base.group_wait if config.group_wait is None else config.group_wait,
        group_interval=(
            base.group_interval if config.group_interval is None else config.group_interval
        ),
        repeat_interval=(
            base.repeat_interval if config.repeat_interval is None else config.repeat_interval
        ),
        key=key,
        id=route_id,
        matchers=matchers,
        continue_=config.continue_,
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
        flapping=config.flapping or base.flapping,
        storm=config.storm or base.storm,
    )
    children = tuple(_build(child, node, i) for i, child in enumerate(config.routes))
    object.__setattr__(node, "routes", children)
    return node
