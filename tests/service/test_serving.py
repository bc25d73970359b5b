"""A serving process tunes its garbage collector (aiexpense.serving): ``exporter serve``
itself, and each worker uvicorn spawns under ``--workers`` (its factory)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from aiexpense import serving, workers


@pytest.fixture
def threshold() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    yield
    gc.set_threshold(*before)


def test_only_the_young_threshold_is_raised(threshold) -> None:
    serving.tune_gc()
    assert gc.get_threshold() == (serving.YOUNG_THRESHOLD, 10, 10)


def test_each_worker_builds_its_app_tuned(threshold, database, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database.url)  # what the supervisor passes on
    module, _, name = workers.APP.partition(":")
    assert (module, name) == ("aiexpense.serving", "worker_app")  # uvicorn's factory
    assert isinstance(serving.worker_app(), Starlette)
    assert gc.get_threshold()[0] == serving.YOUNG_THRESHOLD
