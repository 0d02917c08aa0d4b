"""Synthetic game traffic (placeholder until the simulator lands)."""


def run_simulation(url: str, key: str, games: int, rate: float | None, seed: int | None) -> int:
    raise NotImplementedError
