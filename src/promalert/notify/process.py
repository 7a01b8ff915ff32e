"""Delivery in its own process, so that sending uses a second CPU core.

The service (:class:`DeliveryProcess`) stays the only writer of the store: it writes
every outbox row, as without this module, and tells the delivery process, which takes
the new rows into its copy of the pending rows
(:class:`~promalert.notify.replica.ReplicaOutbox`) and runs the same
:class:`~promalert.notify.outbox.DeliveryWorker` over it. A group flush's rows are
handed over with the message while their transaction commits, so the first sends
overlap the commit; rows of other writes are read from the store's file after theirs.
What the worker records (sent, failed, retry at, deferred) comes back as effects the
service writes to SQLite, and its metric updates are replayed on the service's metrics.

Delivery stays at least once: a row is marked sent in the store only after the delivery
process reported its send returned, and an alert is only acknowledged (the POST's 200)
after its rows are committed; if that commit fails, the rows not yet sent are taken
back and the flush is tried again. If the delivery process dies, the service starts a
new one, which reads every row still pending; if the service dies, the delivery process
sees its socket close and exits at once, and the next service applies its journal of
sent rows (:mod:`promalert.notify.journal`) so that they are not sent again.

    python -m promalert.notify.process FD STORE    (started by the service, not by hand)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, cast

import aiohttp

from promalert.clock import SystemClock
from promalert.config.models import Config
from promalert.errors import StoreError
from promalert.metrics import Metrics
from promalert.notify.journal import SentJournal, replay_journals
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.registry import build_integrations
from promalert.notify.replica import Effect, RemoteMetrics, ReplicaOutbox, apply_metrics
from promalert.notify.webhook import WebhookNotifier
from promalert.notify.wire import Wire
from promalert.store.sqlite import Store

log = logging.getLogger(__name__)

# The store methods an effect may name (what ReplicaOutbox records).
_EFFECTS = frozenset(
    {
        "mark_sent",
        "mark_failed",
        "record_failure",
        "defer",
        "record_receipt",
        "delete_finished_outbox",
        "delete_orphan_deliveries",
    }
)
_RESTART_DELAY = 1.0
_CONFIRM_INTERVAL = 1.0
# How long the delivery process lets sends under way complete when it stops.
_FINISH_WITHIN = 2.0
# Sends at once: more than the worker's default of 8, since the sends are all this
# process does (and a send cut short by a stop is waited for, not repeated). Under a
# burst, 64 in flight took 6% less CPU per send than 16 (more answers per wake-up).
_CONCURRENCY = 64
_STOP_TIMEOUT = 10.0


class DeliveryProcess:
    """The service's side: starts the delivery process, feeds it rows, applies its effects."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._config: Config | None = None
        self._wire: Wire | None = None
        self._started = asyncio.Event()
        self._confirmed_at = 0.0
        self._announced = False
        store.announce = self

    def configure(self, config: Config) -> None:
        """Deliver with ``config``'s receivers from now on (sends in flight finish on the old)."""
        self._config = config
        if self._wire is not None:
            self._wire.send(("config", config, logging.getLogger().level))

    def announce(self, rows: list[tuple[Any, ...]]) -> None:
        """Hand a group flush's rows over while the store commits them (see write_flushes).

        The delivery process starts sending them at once instead of reading them from the
        file after the commit: the commit and the first sends overlap.
        """
        if self._wire is not None:
            self._wire.send(("rows", rows))
            self._wire.flush()
            # The wake that follows the commit (in the same loop turn) has nothing to add:
            # the delivery process would read the file for rows it has (and, lagging, for
            # rows still on their way). A wake in a later turn is for other rows.
            if not self._announced:
                self._announced = True
                asyncio.get_running_loop().call_soon(self._forget_announced)

    def _forget_announced(self) -> None:
        self._announced = False

    def retract(self, ids: list[int]) -> None:
        """The announced rows of ``ids`` were not committed: do not send those not yet sent."""
        self._announced = False
        if self._wire is not None:
            self._wire.send(("retract", ids))
            self._wire.flush()

    def wake(self) -> None:
        """Tell the delivery process that rows were queued (the dispatcher calls this).

        At once, not at the end of the loop turn: the rows are committed, and every
        turn in between is time between an alert's arrival and its notification.
        """
        if self._announced:
            self._announced = False
            return
        if self._wire is not None:
            self._wire.send(("poke",))
            self._wire.flush()

    async def started(self) -> None:
        """Wait until a delivery process runs, configured and with the pending rows."""
        await self._started.wait()

    async def run(self) -> None:
        """Keep a delivery process running until cancelled; then stop it gracefully."""
        while True:
            proc, wire = await self._spawn()
            try:
                await asyncio.shield(wire.closed)
            except asyncio.CancelledError:
                await self._stop(proc, wire)
                raise
            finally:
                self._wire = None
                self._started.clear()
            code = await proc.wait()
            log.error("the delivery process exited (status %s); starting a new one", code)
            await asyncio.sleep(_RESTART_DELAY)

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, Wire]:
        self._settle()
        ours, theirs = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "promalert.notify.process",
                str(theirs.fileno()),
                str(self._store.path),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        wire = await Wire.open(ours, self._on_message)
        self._wire = wire
        if self._config is not None:
            self.configure(self._config)
        return proc, wire

    def _settle(self) -> None:
        """Write every delivery the last process reported or journaled (before the next)."""
        try:
            self._store.flush_deferred()
            replay_journals(self._store)
        except (StoreError, OSError) as exc:
            log.error("could not record delivered notifications: %s", exc)

    async def _stop(self, proc: asyncio.subprocess.Process, wire: Wire) -> None:
        """Ask the process to stop, apply its last effects, wait for it to exit."""
        wire.send(("stop",))
        wire.flush()
        try:
            await asyncio.wait_for(asyncio.shield(wire.closed), _STOP_TIMEOUT)
            await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            log.error("the delivery process did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        wire.close()
        self._settle()

    def _on_message(self, message: Any) -> None:
        if message == ("ready",):
            self._started.set()
            return
        if not (isinstance(message, tuple) and len(message) == 4 and message[0] == "effects"):
            log.error("unexpected message from the delivery process")
            return
        _, report, effects, metrics = message
        for effect in effects:
            self._apply(effect)
        if metrics is not None:
            try:
                apply_metrics(self._metrics, metrics)
            except (AttributeError, TypeError, ValueError) as exc:
                log.error("malformed metrics from the delivery process: %s", exc)
        now = time.monotonic()
        if now - self._confirmed_at >= _CONFIRM_INTERVAL and self._wire is not None:
            # Tell the process which reports are in the store, so it can drop journals.
            self._confirmed_at = now
            try:
                self._store.flush_deferred()
            except StoreError as exc:
                log.error("could not record delivered notifications: %s", exc)
                return
            self._wire.send(("committed", report))

    def _apply(self, effect: Effect) -> None:
        name, *args = effect
        if name not in _EFFECTS:
            log.error("unexpected effect from the delivery process: %r", name)
            return
        try:
            getattr(self._store, name)(*args)
        except StoreError as exc:
            # The row stays pending in the store and is sent again: at least once.
            log.error("could not record a delivery (%s): %s", name, exc)
        except (TypeError, ValueError) as exc:
            log.error("malformed effect %r from the delivery process: %s", name, exc)


# -- the delivery process ---------------------------------------------------------------------


class _Child:
    """The delivery process: a worker over the replica, reporting effects and metrics."""

    def __init__(self, store: Path) -> None:
        self.metrics = RemoteMetrics(self._plan_report)
        self.outbox = ReplicaOutbox(store, self._effect)
        self.journal = SentJournal(store)
        self._reports = 0
        self.stop = asyncio.Event()
        self.wire: Wire | None = None
        self._effects: list[Effect] = []
        self._report_planned = False
        self._session = aiohttp.ClientSession()
        self._worker: DeliveryWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    def on_message(self, message: Any) -> None:
        try:
            self._handle(message)
        except Exception:  # noqa: BLE001 - one bad message must not stop delivery
            log.exception("delivery process: cannot handle %r", message[0])

    def _handle(self, message: Any) -> None:
        kind = message[0]
        if kind in ("poke", "rows"):
            if kind == "rows":
                self.outbox.take(message[1])
            else:
                self.outbox.read_new()
            if self._worker is not None:
                self._worker.start_new()
                return
        elif kind == "retract":
            self.outbox.retract(message[1])
            return
        elif kind == "config":
            self._configure(message[1], message[2])
        elif kind == "committed":
            self.journal.committed(message[1])
            return
        elif kind == "stop":
            self.stop.set()
            return
        if self._worker is not None:
            self._worker.wake()

    def _configure(self, config: Config, level: int) -> None:
        logging.getLogger().setLevel(level)
        metrics = cast(Metrics, self.metrics)  # records what the worker does, see replica
        notifiers, policies = build_integrations(config, self._session, SystemClock(), metrics)
        self.outbox.text_only = frozenset(
            key
            for key, notifier in notifiers.items()
            if isinstance(notifier, WebhookNotifier)
            and notifier.sends_stored_text
            and (key not in policies or policies[key].digest is None)
        )
        if self._worker is not None:
            self._worker.reload(
                notifiers, policies, retention=config.storage.notification_retention
            )
            return
        self._worker = DeliveryWorker(
            self.outbox,
            notifiers,
            SystemClock(),
            metrics,
            policies=policies,
            concurrency=_CONCURRENCY,
            retention=config.storage.notification_retention,
        )
        self._worker_task = asyncio.create_task(self._worker.run())
        if self.wire is not None:
            self.wire.send(("ready",))

    def _effect(self, effect: Effect) -> None:
        self._effects.append(effect)
        if effect[0] == "mark_sent":
            self.journal.record(*effect[1:])
        self._plan_report()

    def _plan_report(self) -> None:
        if not self._report_planned:
            self._report_planned = True
            asyncio.get_running_loop().call_soon(self.report)

    def report(self) -> None:
        """Send the effects and metric updates gathered since the last report."""
        self._report_planned = False
        effects, self._effects = self._effects, []
        metrics = self.metrics.take()
        if not effects and metrics is None:
            return
        self._reports += 1
        # The journal first: if the service dies before writing the marks, it has them.
        self.journal.write(self._reports)
        if self.wire is not None:
            self.wire.send(("effects", self._reports, effects, metrics))

    async def close(self) -> None:
        if self._worker is not None:
            await self._worker.finish(_FINISH_WITHIN)
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
        self.report()
        self.journal.close()
        self.outbox.close()
        await self._session.close()


async def _serve(fd: int, store: Path) -> None:
    child = _Child(store)
    wire = child.wire = await Wire.open(socket.socket(fileno=fd), child.on_message)
    # Only now: reading may already report effects (an unreadable row is marked failed).
    child.outbox.read_new()
    stop = asyncio.ensure_future(child.stop.wait())
    ended = asyncio.ensure_future(_closed(wire))
    await asyncio.wait([ended, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    ended.cancel()
    await child.close()
    wire.close()


async def _closed(wire: Wire) -> bool:
    await wire.closed
    return True


def main(argv: list[str]) -> int:
    """Entry point of the delivery process (the service passes its socket's descriptor)."""
    # Stopping is the service's decision: it tells us, or its end of the socket closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(_serve(int(argv[1]), Path(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
