"""The interleaved rounds time a case and its floor back to back, alternating which goes
first, with loop counts calibrated as pyperf calibrates them."""

from __future__ import annotations

from aiexpense_bench import interleaved


class Clock:
    """Time functions whose "seconds" are their loops times a cost, logging each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def func(self, side: str, cost: float):
        def time_function(loops: int) -> float:
            self.calls.append((side, loops))
            return loops * cost

        return time_function


def test_calibration_doubles_the_loops_until_a_call_takes_long_enough() -> None:
    clock = Clock()
    assert interleaved.calibrate(clock.func("case", 0.001), 0.05) == 64
    # a first call not counted (a cold start), then 1, 2, 4, ... 64 loops
    assert [loops for _, loops in clock.calls] == [1, 1, 2, 4, 8, 16, 32, 64]


def test_rounds_alternate_which_side_goes_first_and_report_per_loop_seconds() -> None:
    clock = Clock()
    found = interleaved.rounds(clock.func("case", 0.002), clock.func("floor", 0.001), 4, 0.05)
    assert found["loops"] == {"case": 32, "floor": 64}
    timed = [side for side, loops in clock.calls if loops == found["loops"][side]][-8:]
    assert timed == ["case", "floor", "floor", "case", "case", "floor", "floor", "case"]
    assert found["case"] == [0.002] * 4 and found["floor"] == [0.001] * 4


def test_every_ratio_goal_of_the_suite_with_a_floor_is_interleaved() -> None:
    names = {name for name, _, _ in interleaved.paired_cases()}
    assert {"kit.status_page_256", "kit.record_native", "service.create_expense"} <= names
    assert "service.parse_conversation" not in names  # a time goal, not a ratio
    assert {name for name, _, _ in interleaved.paired_cases("status_page")} == {
        "kit.status_page_28",
        "kit.status_page_256",
    }
