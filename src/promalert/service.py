"""The running service: loads config, wires engine → ingest → dispatch → outbox, serves HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from promalert.api.server import make_app
from promalert.clock import Clock, SystemClock
from promalert.config.loader import load_all
from promalert.config.models import Config
from promalert.datasource.prometheus import PrometheusClient
from promalert.dispatch.flush import EscalationUpdate, Policy
from promalert.dispatch.group import Dispatcher
from promalert.dispatch.ingest import AlertIngest
from promalert.dispatch.silence import Silences
from promalert.errors import ConfigError
from promalert.escalation.incidents import IncidentManager
from promalert.escalation.oncall import OncallWatcher
from promalert.escalation.reports import ReportScheduler
from promalert.escalation.schedule import build_schedules
from promalert.escalation.stats import compute_stats
from promalert.escalation.targets import Directory
from promalert.metrics import Metrics
from promalert.notify.base import Notifier
from promalert.notify.delivery_api import notification_json, twilio_status, twilio_tokens
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.process import DeliveryProcess
from promalert.notify.registry import build_integrations
from promalert.rules.engine import RuleEngine
from promalert.rules.spec import RuleGroup
from promalert.store.sqlite import Store

log = logging.getLogger(__name__)

_DELIVERY_START_TIMEOUT = 30.0


class Service:
    """One promalert instance: its config, store, loops and HTTP server."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.clock: Clock = clock or SystemClock()
        self.env = env
        self.metrics = Metrics()
        self._ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._store: Store | None = None
        self._engine: RuleEngine | None = None
        self.config: Config | None = None
        self.ingest: AlertIngest | None = None
        self.dispatcher: Dispatcher | None = None
        self.silences: Silences | None = None
        # Incidents outlive reloads too; None until a config has escalation policies.
        self.incidents: IncidentManager | None = None
        # Delivery in its own process (server.delivery_process), kept across reloads.
        self._delivery: DeliveryProcess | None = None
        self._delivery_task: asyncio.Task[None] | None = None
        self.started_at = self.clock.now()

    # -- ServiceHandle -------------------------------------------------------------------

    @property
    def registry(self) -> CollectorRegistry:
        """The service's own metrics registry."""
        return self.metrics.registry

    @property
    def ready(self) -> bool:
        """True once the configuration is loaded and every loop runs."""
        return self._ready

    def rule_status(self) -> list[dict[str, Any]]:
        """State of every rule."""
        return self._engine.rule_status() if self._engine else []

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the config (raising ConfigError), open the store, start loops and HTTP."""
        config, groups = self._load()
        self._store = Store.open(config.storage_path())
        self.started_at = self.clock.now()
        # Silences outlive reloads: they are state, not configuration.
        self.silences = Silences(self._store, self.clock)
        self._session = aiohttp.ClientSession()
        # The delivery process keeps the system clock: a test's fake clock needs inline.
        if config.server.delivery_process and isinstance(self.clock, SystemClock):
            self._delivery = DeliveryProcess(self._store, self.metrics)
            self._delivery.configure(config)
            self._delivery_task = asyncio.create_task(self._delivery.run())
            try:
                await asyncio.wait_for(self._delivery.started(), _DELIVERY_START_TIMEOUT)
            except TimeoutError:
                # Rows wait in the outbox; the supervisor keeps starting the process.
                log.error("the delivery process is not ready yet; notifications wait for it")
        self._start_pipeline(config, groups)
        app = make_app(
            self,
            alertmanager=self,
            incidents=self,
            auth=lambda: self.config.server.auth if self.config else None,
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, config.server.host, config.server.port).start()
        self._ready = True
        log.info("promalert listening on %s", config.server.listen)

    async def stop(self) -> None:
        """Stop the loops and the HTTP server, close the store."""
        self._ready = False
        await self._stop_pipeline()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        if self._store is not None:
            self._store.close()

    async def reload(self) -> list[str]:
        """Load the config again; keep the old one if the new one is invalid."""
        async with self._reload_lock:
            try:
                config, groups = self._load()
            except ConfigError as exc:
                log.error("config reload failed, old config kept:\n%s", exc)
                return [str(p) for p in exc.problems]
            await self._stop_pipeline()
            self._start_pipeline(config, groups)
            log.info("config reloaded from %s", self.config_path)
            return []

    def _load(self) -> tuple[Config, list[RuleGroup]]:
        try:
            config, groups = load_all(self.config_path, env=self.env)
        except ConfigError:
            self.metrics.config_last_reload_successful.set(0)
            raise
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success_timestamp.set(self.clock.now().timestamp())
        return config, groups

    def _start_pipeline(self, config: Config, groups: list[RuleGroup]) -> None:
        assert self._store is not None and self._session is not None
        store, session, clock, metrics = self._store, self._session, self.clock, self.metrics
        notifiers, policies = build_integrations(config, session, clock, metrics)
        loops: list[Coroutine[Any, Any, None]] = []
        if self._delivery is not None:
            self._delivery.configure(config)
            wake = self._delivery.wake
        else:
            worker = DeliveryWorker(
                store,
                notifiers,
                clock,
                metrics,
                policies=policies,
                retention=config.storage.notification_retention,
            )
            loops.append(worker.run())
            wake = worker.wake
        dispatcher = Dispatcher(
            config.route,
            notifiers,
            store,
            clock,
            metrics,
            external_url=config.global_.external_url,
            on_outbox=wake,
            policy=Policy.from_config(config),
            silences=self.silences,
            on_escalation=self._observe_incidents,
        )
        ingest = AlertIngest(
            store, dispatcher, clock, metrics, resolve_timeout=config.global_.resolve_timeout
        )
        loops += [dispatcher.run(), ingest.run()]
        loops += self._escalation(config, notifiers, wake)
        if config.reports:
            by_receiver: dict[str, list[tuple[int, str]]] = {}
            for (name, index), notifier in sorted(notifiers.items(), key=lambda kv: kv[0]):
                by_receiver.setdefault(name, []).append((index, notifier.channel))
            reports = ReportScheduler(
                config.reports,
                store,
                clock,
                lambda receiver: by_receiver.get(receiver, []),
                config.global_.external_url,
                wake,
            )
            loops.append(reports.run())
        self._engine = None
        if groups and config.datasource is not None:
            client = PrometheusClient(config.datasource, session, metrics)
            self._engine = RuleEngine(
                groups,
                client,
                store,
                ingest,
                clock,
                metrics,
                evaluation_interval=config.global_.evaluation_interval,
                external_url=config.global_.external_url,
                graph_url=client.url,
            )
            loops.append(self._engine.run())
        self.config, self.ingest, self.dispatcher = config, ingest, dispatcher
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    def _observe_incidents(self, updates: list[EscalationUpdate]) -> None:
        if self.incidents is not None:
            self.incidents.observe(updates)

    def _escalation(
        self,
        config: Config,
        notifiers: Mapping[tuple[str, int], Notifier],
        wake: Callable[[], None],
    ) -> list[Coroutine[Any, Any, None]]:
        """Configure (creating on first use) the incident manager; its loops to run."""
        assert self._store is not None
        if not config.escalation_policies and self.incidents is None:
            return []
        contacts = config.contact_channels
        tokens = [
            c.auth_token.get_secret_value() for c in (contacts.sms, contacts.voice) if c is not None
        ]
        schedules = build_schedules(config.schedules)
        directory = Directory(config.users, schedules, notifiers, twilio_tokens=tokens)
        external_url = config.global_.external_url
        if self.incidents is None:
            secret = config.global_.secret_key
            self.incidents = IncidentManager(
                config.escalation_policies,
                directory,
                self._store,
                self.clock,
                self.metrics,
                external_url=external_url,
                secret_key=secret.get_secret_value() if secret else None,
                priorities=config.priorities,
                on_outbox=wake,
            )
        else:
            self.incidents.configure(
                config.escalation_policies,
                directory,
                external_url=external_url,
                priorities=config.priorities,
            )
        self.incidents.on_outbox = wake
        watcher = OncallWatcher(
            directory,
            self._store,
            self.clock,
            self.metrics,
            external_url=external_url,
            on_outbox=wake,
        )
        return [self.incidents.run(), watcher.run()]

    def stats(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Incident statistics of [start, end) for ``GET /api/v1/stats``."""
        assert self._store is not None
        incidents = self._store.incidents_between(start, end)
        events = self._store.events_between(start, end)
        return compute_stats(incidents, events, start, end, now=self.clock.now())

    def notifications(
        self, *, limit: int, receiver: str | None, channel: str | None, before: int | None
    ) -> list[dict[str, Any]]:
        """The delivery log for ``GET /api/v1/notifications``, newest first."""
        if self._store is None:
            return []
        records = self._store.notification_log(
            limit=limit, receiver=receiver, channel=channel, before_id=before
        )
        return [notification_json(r) for r in records]

    def twilio_status(
        self, path_qs: str, params: Mapping[str, str], signature: str
    ) -> tuple[int, str]:
        """Apply a Twilio status callback (see ``notify.delivery_api.twilio_status``)."""
        if self._store is None or self.config is None:
            return 503, "not ready"
        return twilio_status(
            external_url=self.config.global_.external_url,
            path_qs=path_qs,
            params=params,
            signature=signature,
            tokens=twilio_tokens(self.config.receivers),
            store=self._store,
            clock=self.clock,
            metrics=self.metrics,
        )

    async def _stop_pipeline(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def run_service(config_path: str) -> int:
    """Run until SIGTERM or SIGINT; SIGHUP reloads. Exit 1 if the config is invalid."""
    service = Service(config_path)
    try:
        await service.start()
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    # What start-up built lives until exit: frozen, the cyclic GC never scans it again.
    # Young collections are kept small (every 1,000 new objects, a second generation
    # after two of them), as each pause is time between an alert's arrival and its
    # notification: most objects of an alert live as long as it does, so a larger young
    # generation only makes longer pauses (50,000 objects took 15-30 ms under load).
    # Whole-heap collections wait for a thousand of those.
    gc.freeze()
    gc.set_threshold(1_000, 2, 1_000)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reloads: set[asyncio.Task[list[str]]] = set()

    def _hup() -> None:
        task = asyncio.ensure_future(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, _hup)
    try:
        await stop.wait()
    finally:
        await service.stop()
    return 0
