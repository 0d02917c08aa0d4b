"""What the clients raise, and how they pace their retries."""

from __future__ import annotations

from collections.abc import Callable

#: How long a client keeps retrying one send (an API restart, back-pressure, the database away) before it gives up.
GIVE_UP_SECONDS = 60.0


class ClientError(Exception):
    """An expected failure, told to the user in one line."""


class Stopped(Exception):
    """SIGTERM or SIGINT arrived while a send waited to be retried."""


def retry_after_seconds(value: object) -> float:
    """A server's Retry-After (header or ack field) as a pause: never zero, so a server answering 0 forever still
    exhausts the retry budget, and never over a minute."""
    try:
        return min(max(float(value), 0.1), 60.0)
    except (TypeError, ValueError):
        return 1.0


class RetryBudget:
    """The pauses of one send: `wait(seconds)` (True when told to stop) until GIVE_UP_SECONDS are spent."""

    def __init__(self, wait: Callable[[float], bool], give_up_after: float = GIVE_UP_SECONDS):
        self._wait, self._give_up_after = wait, give_up_after
        self.waited, self.backoff = 0.0, 0.5

    def pause(self, seconds: float, why: str) -> None:
        if self.waited + seconds > self._give_up_after:
            raise ClientError(f"{why}; gave up after retrying for {self.waited:.0f} s")
        if self._wait(seconds):
            raise Stopped
        self.waited += seconds

    def back_off(self, why: str) -> None:
        """A pause that doubles each time, up to five seconds: for a server that cannot be reached."""
        self.pause(self.backoff, why)
        self.backoff = min(self.backoff * 2, 5.0)
