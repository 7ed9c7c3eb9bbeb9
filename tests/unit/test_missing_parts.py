"""Under CI a part the README promises that is not installed fails the run; elsewhere it skips."""

from __future__ import annotations

import pytest

from tests.conftest import missing


def test_a_missing_part_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI nothing the README promises is skipped"):
        missing("no chromium here")


def test_a_missing_part_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium here"):
        missing("no chromium here")
