"""The time and attempt budget of one publish (juxsdk_backends._http_transport.Budget).

The attempt loop of the http publisher asks the budget how long to wait before the next attempt;
the integration tests (tests/integration/test_http_publisher.py) prove it against the reference
server, these pin the arithmetic with a controlled clock.
"""

from __future__ import annotations

import pytest

from juxsdk_backends import _http_transport
from juxsdk_backends._http_transport import Budget


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(_http_transport.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(_http_transport.random, "uniform", lambda a, b: b)  # the largest jitter
    return now


def test_backoff_doubles_with_jitter_and_stops_after_max_attempts(clock: list[float]) -> None:
    budget = Budget(total=60.0, max_attempts=4, backoff_base=0.5, retry_after_cap=30.0)
    waits = []
    while budget.next_attempt() and (wait := budget.retry_wait(None)) is not None:
        waits.append(wait)
    assert waits == [1.0, 1.5, 2.5]  # 0.5 * 2**(n-1) + 0.5 jitter, three waits for four attempts
    assert budget.attempts == 4


def test_never_waits_past_the_deadline_and_gives_up_once_it_passed(clock: list[float]) -> None:
    budget = Budget(total=10.0, max_attempts=100, backoff_base=8.0, retry_after_cap=30.0)
    budget.next_attempt()
    clock[0] += 7.0
    assert budget.retry_wait(None) == 3.0  # 8 + 8 jitter, cut to the 3 s left
    assert budget.timeouts(5.0, 30.0) == (3.0, 3.0)
    clock[0] += 3.0
    assert budget.retry_wait(None) is None
    assert budget.timeouts(5.0, 30.0) == (0.001, 0.001)  # never 0: requests reads 0 as "no wait"
    assert budget.elapsed() == 10.0


def test_server_wait_is_honoured_only_within_the_cap_and_the_time_left(clock: list[float]) -> None:
    budget = Budget(total=60.0, max_attempts=5, backoff_base=0.1, retry_after_cap=30.0)
    budget.next_attempt()
    assert budget.retry_wait(12.0) == 12.0
    assert budget.retry_wait(31.0) is None  # over the cap: the outbox waits as asked
    clock[0] += 50.0
    assert budget.retry_wait(12.0) is None  # more than the 10 s left
