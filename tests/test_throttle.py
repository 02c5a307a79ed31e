"""The pure rules under the accounts' defences: Throttle (property-based, with a clock of
our own), OneAtATime, LoginGuard, the setup code, and PasswordPool (on real threads)."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evedge import errors
from evedge.domain import setup_code
from evedge.domain.login_guard import LoginGuard
from evedge.domain.password_pool import PasswordPool
from evedge.domain.throttle import OneAtATime, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **kwargs) -> Throttle:
    values = dict(base_delay=1.0, max_delay=60.0, free_failures=3, forget_after=600.0,
                  max_keys=100)
    values.update(kwargs)
    return Throttle(clock=clock, **values)


def test_free_failures_then_doubling_up_to_the_cap():
    clock = Clock()
    t = throttle(clock)
    delays = [t.failed("alice") for _ in range(12)]
    assert delays == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert t.check("alice") == 60
    clock.now += 59.5
    assert t.check("alice") == pytest.approx(0.5)
    clock.now += 0.5
    assert t.check("alice") is None  # the block is over; the count is not
    assert t.failed("alice") == 60


def test_success_clears_and_old_failures_are_forgotten():
    clock = Clock()
    t = throttle(clock)
    for _ in range(5):
        t.failed("alice")
    t.succeeded("alice")
    assert t.check("alice") is None and t.failures("alice") == 0 and len(t) == 0
    for _ in range(5):
        t.failed("bob")
    clock.now += 600
    assert t.check("bob") is None and t.failures("bob") == 0 and len(t) == 0
    assert t.failed("bob") == 0  # starts afresh: a free failure again


def test_the_table_is_bounded_and_forgets_the_least_recent_failure_first():
    clock = Clock()
    t = throttle(clock, max_keys=3)
    for key in ("a", "b", "c"):
        for _ in range(5):
            t.failed(key)
            clock.now += 0.001
    t.failed("a")  # "a" failed most recently now; "b" least recently
    t.failed("d")
    assert len(t) == 3 and t.failures("b") == 0
    assert t.failures("a") == 6 and t.failures("c") == 5 and t.failures("d") == 1


def test_huge_failure_counts_do_not_overflow():
    t = throttle(Clock(), max_delay=300.0)
    assert t.delay_after(10**6) == 300.0


@pytest.mark.parametrize("kwargs", [
    {"base_delay": 0}, {"base_delay": 5, "max_delay": 1}, {"free_failures": -1},
    {"max_keys": 0}, {"max_delay": 60, "forget_after": 30}])
def test_nonsense_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        throttle(Clock(), **kwargs)


operations = st.lists(st.tuples(
    st.sampled_from(["fail", "succeed", "wait"]), st.sampled_from(["k1", "k2", "k3", "k4", "k5"]),
    st.floats(min_value=0, max_value=200)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(operations, st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=4))
def test_properties_against_a_model(ops, max_keys, free):
    """Against a plain model: blocked exactly while the last failure's delay runs, never
    more keys than max_keys, delays monotone in the failures and capped."""
    clock = Clock()
    t = throttle(clock, max_keys=max_keys, free_failures=free)
    for op, key, seconds in ops:
        if op == "fail":
            before = t.failures(key)
            delay = t.failed(key)
            assert t.failures(key) == before + 1
            assert delay == t.delay_after(before + 1) <= t.max_delay
            assert (t.check(key) is None) == (delay == 0)
        elif op == "succeed":
            t.succeeded(key)
            assert t.check(key) is None and t.failures(key) == 0
        else:
            clock.now += seconds
        assert len(t) <= max_keys
        wait = t.check(key)
        assert wait is None or 0 < wait <= t.max_delay
    delays = [t.delay_after(n) for n in range(0, 40)]
    assert delays == sorted(delays) and delays[:free + 1] == [0] * (free + 1)


def test_one_at_a_time():
    busy = OneAtATime()
    with busy.hold("a", "b"):
        assert busy.busy("a") and busy.busy("x", "b") and not busy.busy("c")
    assert not busy.busy("a", "b")


def test_login_guard_counts_user_and_address_and_refuses_a_second_attempt_at_once():
    guard = LoginGuard(Throttle(free_failures=1, max_delay=60, forget_after=600),
                       Throttle(free_failures=2, max_delay=60, forget_after=600))
    with guard.attempt("10.0.0.1", "alice") as attempt:
        with pytest.raises(errors.TooManyRequests) as busy:
            with guard.attempt("10.0.0.2", "alice"):
                pass
        assert busy.value.retry_after == 1
        attempt.failed()
    with guard.attempt("10.0.0.1", "alice") as attempt:
        attempt.failed()  # the user's second failure: blocked for 1 s
    with pytest.raises(errors.TooManyRequests) as blocked:
        with guard.attempt("10.0.0.3", "alice"):
            pass
    assert blocked.value.retry_after == 1 and "try again in 1 s" in blocked.value.message
    with guard.attempt("10.0.0.1", "bob") as attempt:
        attempt.succeeded()  # the address's count stays: 2 failures, not blocked yet
    with guard.attempt("10.0.0.1", "carol") as attempt:
        attempt.failed()  # the address's third
    with pytest.raises(errors.TooManyRequests):
        with guard.attempt("10.0.0.1", "dave"):
            pass


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_setup_code_matching_ignores_case_dashes_and_spaces(noise):
    code = setup_code.new_setup_code()
    assert re.fullmatch(r"([A-Z2-9]{4}-){3}[A-Z2-9]{4}", code)
    assert not set(code.replace("-", "")) & set("01OIL")
    assert setup_code.matches(code.lower().replace("-", " "), code)
    assert setup_code.matches(f" {code.replace('-', '')} ", code)
    assert setup_code.matches(noise, code) == (setup_code.normalise(noise) ==
                                               setup_code.normalise(code))


def test_setup_codes_differ():
    assert len({setup_code.new_setup_code() for _ in range(1000)}) == 1000


async def test_password_pool_refuses_at_once_when_its_queue_is_full():
    pool = PasswordPool(workers=1, max_waiting=2)
    release = threading.Event()
    try:
        held = [asyncio.ensure_future(pool.run(release.wait, 5)) for _ in range(3)]
        await asyncio.sleep(0)  # let them enter the pool
        assert pool.queued == 3
        with pytest.raises(errors.Busy) as busy:
            await asyncio.wait_for(pool.run(release.wait, 5), 0.5)
        assert busy.value.status == 503 and busy.value.retry_after == 1
        release.set()
        assert await asyncio.wait_for(asyncio.gather(*held), 5) == [True] * 3
        assert pool.queued == 0
        assert await pool.run(threading.current_thread) is not threading.current_thread()
    finally:
        release.set()
        pool.close()
