"""The loop inside the hub service: its schedule and the state the routes use.

``PeriodLoop`` holds the database, the hub key, the clock and the loop's
configuration file; ``schedule()`` is the task the app's lifespan starts
when ``allocation_schedule`` is on. Each tick it runs the newest period whose
start is at least ``delay_s`` ago (and, when ``scoring_schedule`` is on, the
newest finished scoring epoch), then sleeps until the next one is due. A
period already recorded (by another worker or an operator) is left as it is;
a period that failed is logged and counted, and the loop goes on with the
next. Periods missed while the hub was down are not run afterwards: an
operator runs them by hand (POST /v1/periods/{period}/run).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from edge.chain.keys import PrivateKey
from edge.clock import Clock
from hub.period.config import LoopFile
from hub.period.store import run_epoch_now, run_period_now
from hub.service.db import Database
from hub.service.errors import HubError

log = logging.getLogger("hub.period")


@dataclass
class PeriodLoop:
    db: Database
    key: PrivateKey
    clock: Clock
    loop: LoopFile
    periods: bool = False
    epochs: bool = False

    @classmethod
    def from_settings(cls, db: Database, key: PrivateKey, clock: Clock,
                      settings: Any) -> PeriodLoop:
        """The loop as the hub settings say; SettingsError when its file cannot be used."""
        from hub.period.config import LoopConfigError, load_loop_file
        from hub.service.settings import SettingsError

        try:
            loop = load_loop_file(settings.allocation_config)
        except LoopConfigError as exc:
            raise SettingsError(str(exc)) from None
        return cls(db, key, clock, loop, settings.allocation_schedule, settings.scoring_schedule)

    @property
    def scheduled(self) -> bool:
        return self.periods or self.epochs

    def due_period(self, now_ms: int) -> int:
        """The newest period whose start is at least delay_s before now (market time)."""
        t = now_ms // 1000 - self.loop.delay_s
        return t - t % self.loop.period_s

    def due_epoch(self, now_ms: int) -> int:
        """The newest scoring epoch that is over (wall time: what the blocks are stamped in)."""
        e = self.loop.scoring.epoch_s
        t = now_ms // 1000
        return t - t % e - e

    def run_period(self, period: int) -> dict[str, Any]:
        market_ms = (period - self.loop.lookback_periods * self.loop.period_s) * 1000
        return run_period_now(self.db, self.key, self.loop, period, self.clock.now_ms(),
                              self.clock.wall_ms(), self.wall_at(market_ms))

    def wall_at(self, market_ms: int) -> int:
        """The wall time at which the clock's market time is ``market_ms``."""
        c = self.clock
        return int(c.origin_wall_ms + (market_ms - c.origin_sim_ms) / c.accel)

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        return run_epoch_now(self.db, self.key, self.loop, epoch, self.clock.wall_ms())

    def tick(self) -> None:
        """One round of the schedule: the due period, then the due epoch."""
        for on, what, start, run in (
            (self.periods, "period", self.due_period(self.clock.now_ms()), self.run_period),
            (self.epochs, "epoch", self.due_epoch(self.clock.wall_ms()), self.run_epoch),
        ):
            if not on or start < 0:
                continue
            try:
                run(start)
            except HubError as exc:
                log.warning("scheduled %s %d not recorded: %s", what, start, exc.message)
            except Exception:  # noqa: BLE001 - the schedule must outlive one bad period
                log.exception("scheduled %s %d failed", what, start)

    def seconds_to_next(self) -> float:
        """Wall seconds until the next period or epoch becomes due (at least 1 s)."""
        waits = []
        if self.periods:
            p = self.loop.period_s
            market_s = self.clock.now_ms() / 1000
            waits.append(self.clock.wall_seconds(p - (market_s - self.loop.delay_s) % p))
        if self.epochs:
            e = self.loop.scoring.epoch_s
            waits.append(e - self.clock.wall_ms() / 1000 % e)
        return max(min(waits, default=60.0), 1.0)

    async def schedule(self) -> None:
        while True:
            await run_in_threadpool(self.tick)
            await asyncio.sleep(self.seconds_to_next())
