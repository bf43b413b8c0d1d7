"""A typed user module on the synchronous API and an SQLAlchemy read model passes mypy --strict."""

from __future__ import annotations

from pathlib import Path

from domain.strict_mypy import ROOT, mypy_strict


def test_user_code_on_the_sync_api_and_an_sqlalchemy_read_model_type_checks(tmp_path: Path) -> None:
    paths = [
        Path(__file__).resolve().parent / "typed_code" / "typed_sync_app.py",
        ROOT / "examples" / "orders" / "read_model_sqlalchemy.py",
    ]

    completed = mypy_strict(paths, tmp_path / "mypy-cache")

    assert completed.returncode == 0, completed.stdout + completed.stderr
