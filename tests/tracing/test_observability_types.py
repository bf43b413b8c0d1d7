"""A typed user module using tracing, OTel metrics and both broker publishers passes mypy --strict."""

from __future__ import annotations

from pathlib import Path

from domain.strict_mypy import mypy_strict


def test_user_code_with_tracing_and_broker_publishers_type_checks(tmp_path: Path) -> None:
    paths = [Path(__file__).resolve().parent / "typed_code" / "typed_observed_app.py"]

    completed = mypy_strict(paths, tmp_path / "mypy-cache")

    assert completed.returncode == 0, completed.stdout + completed.stderr
