"""The images and the locks, without a Docker engine. The Dockerfile is read as text: one target per
service, each copying and installing only its own package and its own lock, on a base pinned by
digest, running as a numeric user. Each lock is checked against what the project declares: the
dependency closure of the packages its requirements/<name>.in names, resolved from their
pyprojects over the installed environment (importlib.metadata), pinned and hashed; so intake,
the notifier and the clinic are shown to carry no ortools, pandas or numpy."""

import importlib.metadata
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
REQUIREMENTS = ROOT / "requirements"
SERVICES = ("intake", "scheduler", "notifier", "clinic")
TARGETS = (*SERVICES, "operator")
SOLVER_ONLY = {"ortools", "pandas", "numpy"}
USER = "10001:10001"
BASE_IMAGE = re.compile(r"python:3\.11\.\d+-slim(-[a-z]+)?@sha256:[0-9a-f]{64}")


# --- the project's own packages ------------------------------------------------------------------


@cache
def local_projects() -> dict[str, Path]:
    """Canonical name -> directory of every pyproject in the repository."""
    found = {}
    for pyproject in [ROOT / "pyproject.toml", *ROOT.glob("*/pyproject.toml")]:
        found[project_name(pyproject.parent)] = pyproject.parent
    for pyproject in ROOT.glob("services/*/pyproject.toml"):
        found[project_name(pyproject.parent)] = pyproject.parent
    return found


def project_name(directory: Path) -> str:
    return canonicalize_name(pyproject(directory)["project"]["name"])


def pyproject(directory: Path) -> dict[str, Any]:
    return tomllib.loads((directory / "pyproject.toml").read_text())


def declared(name: str, extras: Iterable[str] = ()) -> list[Requirement]:
    """The requirements a package declares for itself and the given extras: a local package's
    from its pyproject (the source of truth), any other from its installed metadata."""
    if name in local_projects():
        project = pyproject(local_projects()[name])["project"]
        strings = list(project.get("dependencies", []))
        for extra in extras:
            strings += project.get("optional-dependencies", {}).get(extra, [])
        return [Requirement(s) for s in strings]
    wanted = {"", *extras}
    requirements = []
    for text in importlib.metadata.distribution(name).requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or any(applies(requirement.marker, e) for e in wanted):
            requirements.append(requirement)
    return requirements


def applies(marker: Marker, extra: str) -> bool:
    return marker.evaluate({"extra": extra})


def closure(roots: Iterable[Requirement]) -> dict[str, str]:
    """Every third-party package the roots need here, transitively: name -> installed version."""
    seen: set[tuple[str, str]] = set()
    needed: dict[str, str] = {}
    pending = [r for r in roots if r.marker is None or applies(r.marker, "")]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        for extra in ["", *sorted(requirement.extras)]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            if name not in local_projects():
                needed[name] = importlib.metadata.version(name)
            pending += declared(name, [extra] if extra else [])
    return needed


# --- the lock files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]


def read_lock(path: Path) -> dict[str, Pin]:
    """name -> pin of a hashed requirements file; anything else in it fails."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"{path.name}: not a hashed pin: {line[:80]}"
        name, version, hashes = match.groups()
        pins[canonicalize_name(name)] = Pin(version, frozenset(hashes.split()))
    return pins


@dataclass
class Input:
    """A requirements/<name>.in: the local packages (with extras) and the other requirements."""

    local: dict[str, set[str]] = field(default_factory=dict)
    others: list[Requirement] = field(default_factory=list)

    def roots(self) -> list[Requirement]:
        named = [Requirement(f"{n}[{','.join(e)}]" if e else n) for n, e in self.local.items()]
        return named + self.others


def read_input(name: str) -> Input:
    parsed = Input()
    for line in (REQUIREMENTS / f"{name}.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-c "):
            continue
        if line.startswith("-e "):
            path, _, extras = line.removeprefix("-e ").partition("[")
            extra_names = {e for e in extras.rstrip("]").split(",") if e}
            parsed.local[project_name(ROOT / path)] = extra_names
        else:
            parsed.others.append(Requirement(line))
    return parsed


def locked_closure(name: str) -> dict[str, str]:
    return closure(read_input(name).roots())


# --- the Dockerfile -----------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [args for word, args in self.instructions if word == keyword]


def dockerfile_text() -> str:
    return (ROOT / "Dockerfile").read_text()


def stages() -> dict[str, Stage]:
    text = re.sub(r"\\\n", " ", dockerfile_text())
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            current = found[name.strip()] = Stage(name.strip(), base.strip())
        elif current is not None:
            current.instructions.append((keyword, " ".join(args.split())))
    return found


def lineage(target: str) -> list[Stage]:
    """The stages a target is built from: its own, its bases', and those it copies from."""
    all_stages = stages()
    chain: list[Stage] = []
    pending = [target]
    while pending:
        stage = all_stages[pending.pop()]
        if stage in chain:
            continue
        chain.append(stage)
        if stage.base in all_stages:
            pending.append(stage.base)
        for copy in stage.arguments("COPY"):
            source = re.match(r"--from=(\S+)", copy)
            if source:
                pending.append(source.group(1))
    return chain


def copied_from_the_context(target: str) -> set[str]:
    sources: set[str] = set()
    for stage in lineage(target):
        for copy in stage.arguments("COPY"):
            if not copy.startswith("--from="):
                sources.update(copy.split()[:-1])
    return sources


def installs(target: str) -> list[str]:
    return [run for stage in lineage(target) for run in stage.arguments("RUN") if "pip" in run]


def expected_sources(target: str) -> set[str]:
    """What a target may copy: its own lock and the directories of the packages its .in names."""
    sources = {f"requirements/{target}.txt"}
    for name in read_input(target).local:
        directory = local_projects()[name].relative_to(ROOT)
        if directory == Path("."):
            sources |= {"pyproject.toml", "iop/"}
        else:
            sources.add(f"{directory}/")
    return sources


# --- the tests ----------------------------------------------------------------------------------


def test_every_target_is_built_from_a_slim_base_pinned_by_digest() -> None:
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile_text(), re.MULTILINE)
    assert default and BASE_IMAGE.fullmatch(default.group(1))
    external = {s.base for s in stages().values() if s.base not in stages()}
    assert external == {"${PYTHON_IMAGE}"}


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_copies_only_its_own_packages_and_lock(target: str) -> None:
    assert copied_from_the_context(target) == expected_sources(target)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_input_names_the_contract_and_that_service_only(service: str) -> None:
    assert set(read_input(service).local) == {"iop-contracts", f"iop-{service}"}


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_installs_its_lock_with_hashes_then_its_packages_alone(target: str) -> None:
    runs = installs(target)
    assert f"--require-hashes -r requirements/{target}.txt" in " ".join(runs)
    # The project's own wheels go in without dependencies: nothing outside the lock arrives.
    project_installs = [run for run in runs if "/wheels/" in run and "install" in run]
    assert project_installs and all("--no-deps" in run for run in project_installs)
    assert all("pip check" in run for run in project_installs)


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_runs_as_the_numeric_user(target: str) -> None:
    (final,) = [s for s in stages().values() if s.name == target]
    assert final.arguments("USER") == [USER]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_target_starts_that_service(service: str) -> None:
    (final,) = [s for s in stages().values() if s.name == service]
    assert final.arguments("CMD") == [f'["iop-{service}", "run"]']
    scripts = pyproject(local_projects()[f"iop-{service}"])["project"]["scripts"]
    assert f"iop-{service}" in scripts


def test_the_operator_target_has_the_topics_command() -> None:
    (final,) = [s for s in stages().values() if s.name == "operator"]
    assert final.arguments("CMD") == ['["iop", "topics", "create"]']
    assert "iop" in read_input("operator").local
    assert "iop" in pyproject(ROOT)["project"]["scripts"]


@pytest.mark.parametrize("lock", sorted(REQUIREMENTS.glob("*.txt")), ids=lambda p: p.name)
def test_every_lock_pins_every_package_with_its_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    assert not set(pins) & set(local_projects()), "the project's own packages are never pinned"


@pytest.mark.parametrize("name", ["dev", *TARGETS])
def test_each_lock_is_exactly_the_closure_of_its_input(name: str) -> None:
    """Nothing missing (an image or `make install` would lack it) and nothing extra (an image
    would carry what its service never needs); the versions are the ones installed here, which
    `make install` took from the lock."""
    lock = "lock" if name == "dev" else name
    pins = read_lock(REQUIREMENTS / f"{lock}.txt")
    needed = locked_closure(name)
    assert set(pins) == set(needed), "stale lock: run `make lock`"
    assert {n: p.version for n, p in pins.items()} == needed


@pytest.mark.parametrize("target", TARGETS)
def test_image_locks_hold_the_versions_and_files_of_the_main_lock(target: str) -> None:
    main = read_lock(REQUIREMENTS / "lock.txt")
    for name, pin in read_lock(REQUIREMENTS / f"{target}.txt").items():
        assert main[name].version == pin.version, name
        assert pin.hashes <= main[name].hashes, name


@pytest.mark.parametrize("service", ["intake", "notifier", "clinic"])
def test_only_the_scheduler_carries_the_solver_stack(service: str) -> None:
    assert not set(locked_closure(service)) & SOLVER_ONLY
    assert not set(read_lock(REQUIREMENTS / f"{service}.txt")) & SOLVER_ONLY


def test_the_closure_finds_the_solver_stack_where_it_is() -> None:
    """The negative test above means something: the same walk finds them for the scheduler."""
    assert set(locked_closure("scheduler")) >= SOLVER_ONLY
    assert set(read_lock(REQUIREMENTS / "scheduler.txt")) >= SOLVER_ONLY


def test_every_local_package_is_in_the_development_environment() -> None:
    assert set(read_input("dev").local) == set(local_projects())


@pytest.mark.parametrize("tool", ["ruff", "mypy", "pip-audit"])
def test_lint_tools_are_bounded_and_pinned(tool: str) -> None:
    test_extra = pyproject(ROOT)["project"]["optional-dependencies"]["test"]
    (requirement,) = [
        Requirement(r) for r in test_extra if canonicalize_name(Requirement(r).name) == tool
    ]
    assert any(spec.operator == "<" for spec in requirement.specifier), requirement
    pinned = read_lock(REQUIREMENTS / "lock.txt")[tool].version
    assert requirement.specifier.contains(pinned)


def test_the_build_context_leaves_out_everything_not_copied() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "start from nothing, then let in what the Dockerfile copies"
    let_in = {p.removeprefix("!").removesuffix("*.txt") for p in patterns if p.startswith("!")}
    copied = set().union(*(copied_from_the_context(t) for t in TARGETS))
    directories = {source.split("/")[0] + "/" if "/" in source else source for source in copied}
    assert let_in == directories
    assert {"**/.env", "**/tests/", "**/*.egg-info/"} <= set(patterns)
