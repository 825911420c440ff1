"""The service kernel: real-time pacing scaled by speed, injection from other threads, no horizon."""

from __future__ import annotations

import threading
import time

import pytest

from qplane_northbound.kernel import ServiceKernel


def _run(kernel: ServiceKernel) -> threading.Thread:
    t = threading.Thread(target=kernel.run_until, args=(1.0,), daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("speed, sim_t, wall_min, wall_max", [(1.0, 0.25, 0.24, 0.6), (10.0, 2.0, 0.19, 0.6)])
def test_simulated_time_follows_the_wall_clock_scaled_by_speed(speed, sim_t, wall_min, wall_max) -> None:
    k = ServiceKernel(0, speed)
    seen: list[float] = []
    k.call_at(sim_t, lambda: (seen.append(time.monotonic()), k.stop()))
    t0 = time.monotonic()
    _run(k).join(5)
    assert seen and wall_min <= seen[0] - t0 <= wall_max
    assert k.now == pytest.approx(sim_t)


def test_unpaced_runs_as_fast_as_possible_and_never_past_stop() -> None:
    k = ServiceKernel(0, None)
    k.call_at(1000.0, k.stop)
    k.call_at(2000.0, lambda: pytest.fail("ran past stop"))
    t0 = time.monotonic()
    _run(k).join(5)
    assert time.monotonic() - t0 < 0.5 and k.now == 1000.0


def test_the_run_outlives_its_horizon_until_stopped() -> None:
    k = ServiceKernel(0, None)
    t = _run(k)  # run_until(1.0): a service's run has no horizon
    time.sleep(0.1)
    assert t.is_alive()
    k.call_soon_threadsafe(k.stop)
    t.join(2)
    assert not t.is_alive()


def test_injected_work_wakes_an_idle_kernel_at_the_wall_clock_time() -> None:
    k = ServiceKernel(0, 1.0)
    k.call_at(100.0, lambda: None)  # far away: the kernel sleeps
    t = _run(k)
    time.sleep(0.15)
    done = threading.Event()
    seen: list[float] = []
    sent = time.monotonic()
    k.call_soon_threadsafe(lambda: (seen.append(k.now), done.set()))
    assert done.wait(1.0)
    assert time.monotonic() - sent < 0.05  # answered at once, not after the sleep
    assert 0.14 <= seen[0] <= 0.3  # and "now" is the wall clock's simulated time
    k.call_soon_threadsafe(k.stop)
    t.join(2)


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ServiceKernel(0, 0.0)


def test_no_injection_waits_for_the_longest_sleep() -> None:
    # the event is set only while the thread sleeps: no lost wake-up between its last look at the
    # inbox and its sleep (with a minute's sleep, one would show as a timeout here)
    k = ServiceKernel(0, 1.0)
    k.max_sleep = 60.0
    k.call_at(1000.0, lambda: None)
    t = _run(k)
    worst = 0.0
    missed: list[int] = []

    def inject(n: int) -> None:
        nonlocal worst
        for i in range(n):
            done = threading.Event()
            sent = time.monotonic()
            k.call_soon_threadsafe(done.set)
            if not done.wait(2.0):
                missed.append(i)
                return
            worst = max(worst, time.monotonic() - sent)

    threads = [threading.Thread(target=inject, args=(300,)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    k.call_soon_threadsafe(k.stop)
    t.join(5)
    assert not missed and not t.is_alive() and worst < 1.0
