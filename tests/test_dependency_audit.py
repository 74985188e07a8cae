"""`make lint`'s dependency audit fails on a known vulnerability, says how much it could not
audit, and fails on that too when IOP_AUDIT_STRICT=1 (pip-audit alone passes either way)."""

from typing import Any

import pytest

from tools import audit


def report(*dependencies: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(dependencies), "fixes": []}


CLEAN = {"name": "aiokafka", "version": "0.14.0", "vulns": []}
SKIPPED = {"name": "uvicorn", "skip_reason": "Dependency not found on PyPI"}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.0",
    "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["3.1.6"], "description": "..."}],
}


@pytest.fixture
def audited(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("IOP_AUDIT_STRICT", raising=False)

    def answer(*dependencies: dict[str, Any]) -> None:
        monkeypatch.setattr(audit, "run_pip_audit", lambda: report(*dependencies))

    return answer


def test_a_known_vulnerability_fails_and_is_named(
    audited: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    audited(CLEAN, VULNERABLE)
    assert audit.main() == 1
    out = capsys.readouterr().out
    assert "jinja2 3.1.0: GHSA-xxxx (fixed in 3.1.6)" in out
    assert "2 of 2 installed packages audited, 1 known vulnerabilities" in out


def test_everything_audited_and_clean_passes(audited: Any) -> None:
    audited(CLEAN)
    assert audit.main() == 0


def test_what_could_not_be_audited_is_said_and_fails_only_when_strict(
    audited: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audited(CLEAN, SKIPPED)
    assert audit.main() == 0
    assert "NOT AUDITED 1 packages (uvicorn)" in capsys.readouterr().out
    monkeypatch.setenv("IOP_AUDIT_STRICT", "1")
    assert audit.main() == 1
