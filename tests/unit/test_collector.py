"""The collector pause: nested and overlapping pauses keep it off until the last one ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sis_sync.collector import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_overlapping_pauses_keep_the_collector_off_until_the_last_one_ends() -> None:
    # Given two pauses that overlap without nesting (two threads of the devstack's gateway)
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    # When the first one ends while the second still runs
    first.__exit__(None, None, None)
    # Then the collector stays off for the second, and is on again once it ends
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_ended_by_an_error_restores_the_collector() -> None:
    def failing() -> None:
        with collector_paused():
            assert not gc.isenabled()
            raise ValueError

    with pytest.raises(ValueError):
        failing()
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
