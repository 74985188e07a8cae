"""The project's own documentation travels with a clone: README.md and docs/*.md link only to
files of the repository (no web address, nothing outside the repository, no file that does not
exist, no anchor without its heading), and the README's topics table is the contract's code."""

import re
from collections import defaultdict
from pathlib import Path

import pytest
from iop_contracts import topics
from iop_contracts.payloads import PAYLOAD_TYPES

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = sorted([README, *(REPO / "docs").glob("**/*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
# A code span may wrap a line but never a paragraph, so a stray backtick hides little.
CODE_SPAN = re.compile(r"(`+)(?:(?!\n\n).)+?\1", re.DOTALL)
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^[ ]{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
BARE_ADDRESS = re.compile(r"\b(?:https?://|www\.)\S+")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text a reader follows links in: code blocks and code spans left out."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def link_targets(text: str) -> list[str]:
    body = prose(text)
    found = INLINE_LINK.findall(body) + REFERENCE_LINK.findall(body) + AUTOLINK.findall(body)
    rest = REFERENCE_LINK.sub("", INLINE_LINK.sub("", AUTOLINK.sub("", body)))
    return found + [address.rstrip(".,;:)") for address in BARE_ADDRESS.findall(rest)]


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes."""
    plain = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = defaultdict(int)
    out = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        out.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return out


def broken(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, does not lead to a file of the clone (or None)."""
    if SCHEME.match(target) or target.startswith(("//", "www.")):
        return "leaves the repository (a web address)"
    path, _, fragment = target.partition("#")
    # "/x" is the repository's root, as the forge renders it: docs link the code that way.
    base = REPO if path.startswith("/") else page.parent
    file = (base / path.lstrip("/")).resolve() if path else page
    if not file.is_relative_to(REPO):
        return "leaves the repository"
    if not file.exists():
        return "names a file the repository does not have"
    if fragment and file.suffix == ".md" and fragment not in anchors(file):
        return f"names an anchor {file.name} does not have"
    return None


def test_the_link_checker_refuses_what_a_clone_cannot_follow() -> None:
    text = (
        "[a](../shared/SCHEDULING.md) [b](https://example.org/x) <http://localhost:1> "
        "www.example.org. [c](docs/missing.md) [d](docs/contract.md#no-such-heading) "
        "`[not a link](../shared/x.md)` [e](docs/contract.md#topics) [f](#topics)\n"
        "[g]: bench/results/solver.md [h](/iop/cli.py) [i](/../outside.md)\n"
        "```\n[code](../../etc/passwd)\n```\n"
    )
    reasons = {t: broken(README, t) for t in link_targets(text)}
    assert reasons == {
        "../shared/SCHEDULING.md": "leaves the repository",
        "https://example.org/x": "leaves the repository (a web address)",
        "http://localhost:1": "leaves the repository (a web address)",
        "www.example.org": "leaves the repository (a web address)",
        "docs/missing.md": "names a file the repository does not have",
        "docs/contract.md#no-such-heading": "names an anchor contract.md does not have",
        "docs/contract.md#topics": None,
        "#topics": None,
        "bench/results/solver.md": None,
        "/iop/cli.py": None,
        "/../outside.md": "leaves the repository",
    }


def test_slugs_follow_github() -> None:
    assert slug("Decisions and known limits") == "decisions-and-known-limits"
    assert slug("Rule 4: `capacity`, on dates!") == "rule-4-capacity-on-dates"
    assert slug("What is not implemented yet") == "what-is-not-implemented-yet"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_link_stays_inside_the_repository(page: Path) -> None:
    targets = link_targets(page.read_text(encoding="utf-8"))
    problems = {t: why for t in targets if (why := broken(page, t)) is not None}
    assert problems == {}


def test_the_docs_the_readme_promises_exist_and_are_linked() -> None:
    targets = link_targets(README.read_text(encoding="utf-8"))
    for page in (
        "docs/scheduling.md",
        "docs/contract.md",
        "docs/reliability.md",
        "docs/decisions.md",
    ):
        assert (REPO / page).is_file(), page
        assert page in targets, page


def readme_topics_table() -> dict[str, set[str]]:
    """Topic -> event names, as the README's topics table lists them."""
    section = README.read_text(encoding="utf-8").split("### Topics", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table: dict[str, set[str]] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        table[cells[0].strip("`")] = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", cells[3]))
    return table


def test_the_readme_topics_table_is_the_contract_of_the_code() -> None:
    expected: dict[str, set[str]] = {topic: set() for topic in topics.PARTITIONS}
    for payload in PAYLOAD_TYPES:
        expected[payload.topic].add(payload.event_name)
    expected[f"<topic>{topics.DLQ_SUFFIX}"] = set()
    assert readme_topics_table() == expected


def test_the_two_commands_come_first() -> None:
    first_block = FENCE.search(README.read_text(encoding="utf-8"))
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(0).splitlines()[1:-1]]
    assert commands == ["make demo", "make test"]
