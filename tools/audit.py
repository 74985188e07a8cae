"""`make lint`'s dependency audit: pip-audit over the installed environment, read rather than
trusted.

pip-audit asks a vulnerability service (PyPI's JSON API) about every installed distribution. A
package it could not ask about is skipped, and pip-audit still prints "No known vulnerabilities
found" and exits 0, even when it could ask about none. This script counts what was audited:

- a known vulnerability in any package fails (exit 1), unless its id is in IGNORED with a reason;
- packages that could not be audited are counted and named in one line; that fails only with
  IOP_AUDIT_STRICT=1 (a CI that can reach the service should set it), because a workplace
  without the service would otherwise fail every lint for a reason that is not the code's.

The project's own packages (installed editable) are not on PyPI and are skipped on purpose.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Vulnerability id -> why it does not apply or cannot be fixed yet. Remove an entry as soon as a
# fixed version can be pinned.
IGNORED: dict[str, str] = {}


def run_pip_audit() -> dict[str, Any]:
    pip_audit = Path(sys.executable).parent / "pip-audit"
    command = [str(pip_audit), "--skip-editable", "--progress-spinner", "off", "--format", "json"]
    for vuln_id in IGNORED:
        command += ["--ignore-vuln", vuln_id]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"pip-audit did not run: {last}") from None
    return report


def main() -> int:
    started = time.monotonic()
    dependencies = run_pip_audit()["dependencies"]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    took = f"{time.monotonic() - started:.1f} s"
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixed})")
    print(
        f"pip-audit: {len(audited)} of {len(dependencies)} installed packages audited, "
        f"{sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities, "
        f"{len(IGNORED)} ignored by tools/audit.py ({took})"
    )
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(
            f"pip-audit: NOT AUDITED {len(skipped)} packages ({names}): the vulnerability "
            "service did not answer for them; IOP_AUDIT_STRICT=1 makes this an error"
        )
    if vulnerable:
        return 1
    if skipped and os.environ.get("IOP_AUDIT_STRICT") == "1":
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
