"""How fast the simulator plays: sessions at a time and their speed for a target rate, and the stop flag its
waits poll."""

from __future__ import annotations

import time
from dataclasses import dataclass

FILL_SECONDS = 5.0  # at human pace, about how long new sessions take to fill the empty seats
HUMAN_SESSIONS = 4
#: Events per second one session sends at human pace (2.25 s mean think time, plus pauses between games).
SESSION_EPS = 0.4


@dataclass(frozen=True)
class Pace:
    sessions: int  # kept playing at the same time
    speed: float  # think times and pauses are divided by this


def pace_for(rate: float | None, games: int) -> Pace:
    """Human pace without a rate; with one, more sessions and shorter think times to send about `rate`
    events per second in all."""
    if rate is None:
        return Pace(min(HUMAN_SESSIONS, games or HUMAN_SESSIONS), 1.0)
    sessions = max(3, min(100, round(rate / 5)))  # one per 5 events/s: think times ~12x shorter than human
    if games:
        sessions = min(sessions, games)
    return Pace(sessions, rate / (sessions * SESSION_EPS))


class StopFlag:
    """Set by SIGTERM or SIGINT. A plain flag polled while sleeping, because threading.Event.set from a signal
    handler can deadlock with the main thread's own wait on the same lock."""

    def __init__(self):
        self.stopped = False

    def set(self, *_signal) -> None:
        self.stopped = True

    def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.stopped and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
        return self.stopped
