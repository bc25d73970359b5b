"""`aiexpense-bench compare` on generated result files: significance, `~`, exit codes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from statistics import median

import pytest

from aiexpense_bench import compare, results
from aiexpense_bench.cli import main

BASE = 100e-6  # 100 us per op
NOISE = 0.05  # 5% standard deviation
N = 10


def sample(rng: random.Random, scale: float) -> list[float]:
    return [BASE * scale * (1 + rng.gauss(0, NOISE)) for _ in range(N)]


def write_result(path: Path, benchmarks: dict[str, list[float]]) -> Path:
    doc = {
        "format": results.FORMAT,
        "metadata": {},
        "benchmarks": {
            name: {
                "kind": "micro",
                "unit": "second",
                "values": values,
                "median": median(values),
                "floor": None,
            }
            for name, values in benchmarks.items()
        },
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rng = random.Random(20)
    old = {"slower": sample(rng, 1.0), "noise": sample(rng, 1.0), "gone": sample(rng, 1.0)}
    new = {"slower": sample(rng, 1.20), "noise": sample(rng, 1.01), "added": sample(rng, 1.0)}
    return write_result(tmp_path / "old.json", old), write_result(tmp_path / "new.json", new)


def test_a_20_percent_slowdown_is_significant_and_1_percent_noise_is_not(files) -> None:
    old, new = (results.load(f) for f in files)
    changes = {c.name: c for c in compare.compare(old, new)}
    assert set(changes) == {"slower", "noise"}
    slower, noise = changes["slower"], changes["noise"]
    assert slower.significant() and slower.p_value < 0.01
    assert 10 < slower.percent < 30
    assert not noise.significant()
    assert compare.verdict(noise).startswith("~")
    assert compare.verdict(slower).startswith("+")


def test_the_table_reads_like_benchstat(files, capsys) -> None:
    assert main(["compare", str(files[0]), str(files[1])]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["name"].split() == ["name", "old", "new", "delta"]
    assert "us" in lines["slower"] and "%" in lines["slower"] and "p=" in lines["slower"]
    assert " ~ " in lines["noise"]
    assert "[geomean]" in lines
    assert "only in old: gone" in out and "only in new: added" in out


@pytest.mark.parametrize(("threshold", "code"), [(10, 1), (25, 0), (0.5, 1)])
def test_fail_on_regression_exits_non_zero_only_past_the_threshold(files, threshold, code) -> None:
    argv = ["compare", str(files[0]), str(files[1]), "--fail-on-regression"]
    assert main([*argv, str(threshold)]) == code


def test_noise_alone_never_fails(tmp_path: Path) -> None:
    rng = random.Random(3)
    old = write_result(tmp_path / "a.json", {"x": sample(rng, 1.0)})
    new = write_result(tmp_path / "b.json", {"x": sample(rng, 1.01)})
    assert main(["compare", str(old), str(new), "--fail-on-regression", "0"]) == 0


def test_a_speedup_is_significant_but_never_a_regression(tmp_path: Path) -> None:
    rng = random.Random(5)
    old = write_result(tmp_path / "a.json", {"x": sample(rng, 1.0)})
    new = write_result(tmp_path / "b.json", {"x": sample(rng, 0.7)})
    (change,) = compare.compare(results.load(old), results.load(new))
    assert change.significant() and change.percent < -20
    assert main(["compare", str(old), str(new), "--fail-on-regression", "0"]) == 0


def test_too_few_values_or_identical_values_are_not_significant() -> None:
    assert compare.mann_whitney_p([1.0], [2.0, 3.0]) is None
    assert compare.mann_whitney_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pyperf.json"
    path.write_text(json.dumps({"version": "1.0", "benchmarks": []}))
    with pytest.raises(ValueError, match="not an `aiexpense-bench` result"):
        results.load(path)
