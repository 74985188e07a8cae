"""The parts of docs/contract.md that restate the code, rendered from the code.

The document's prose is written by hand. Its topics table and its JSON example per event type
sit between marker comments and are rendered here from `topics`, the payload classes and
`examples.EXAMPLES`; a contract test fails when the document and the code disagree. Refresh:

    python -m iop_contracts.contract_doc docs/contract.md
"""

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from iop_contracts import topics
from iop_contracts.envelope import EVENT_TYPES, dead_letter_headers, parse_payload
from iop_contracts.examples import EXAMPLES

# Who writes each topic: the one column of the table the code cannot tell.
PRODUCERS: Final[dict[str, str]] = {
    topics.ROSTER: "the network's admin systems; `iop roster load`",
    topics.REFERRAL: "referral partners and EHRs",
    topics.ENROLLMENT: "intake (and clinic, for `makeup.requested`)",
    topics.SCHEDULE: "scheduler",
    topics.STAFFING: "scheduler",
    topics.NOTIFICATION: "notifier",
    topics.ATTENDANCE: "clinic, and EHRs for `attendance.recorded`",
}


def _events_on(topic: str) -> list[str]:
    return [name for name, payload in EVENT_TYPES.items() if payload.topic == topic]


def key_of(event_type: str) -> str:
    """How an event's Kafka key is made from its payload's fields, read off its example."""
    example = EXAMPLES[event_type]
    key = parse_payload(event_type, example).kafka_key
    for field, value in example.items():
        if not isinstance(value, str):
            continue
        if key == value:
            return f"`{field}`"
        prefix = key.removesuffix(value)
        if prefix != key and prefix.endswith(":"):
            return f"`{prefix}<{field}>`"
    raise ValueError(f"{event_type}: the key is not made from one field")


def topics_table() -> str:
    rows = ["| topic | key | producer | events | partitions |", "| --- | --- | --- | --- | --- |"]
    for topic, partitions in topics.PARTITIONS.items():
        events = _events_on(topic)
        keys = ", ".join(dict.fromkeys(key_of(e) for e in events))
        names = ", ".join(f"`{e}`" for e in events)
        rows.append(f"| `{topic}` | {keys} | {PRODUCERS[topic]} | {names} | {partitions} |")
    dlq_headers = [name for name, _ in dead_letter_headers([], "reason", "consumer")]
    rows.append(
        f"| `<topic>{topics.DLQ_SUFFIX}` | the refused record's | any consumer that refuses a "
        f"record | the refused record as it was, plus headers "
        f"{', '.join(f'`{h}`' for h in dlq_headers)} | 1 |"
    )
    return "\n".join(rows) + "\n"


def example_blocks() -> str:
    """One heading per topic, and under it each event type's example as a JSON block."""
    parts: list[str] = []
    for topic in topics.PARTITIONS:
        parts.append(f"### `{topic}`\n")
        for event_type in _events_on(topic):
            block = json.dumps(EXAMPLES[event_type], indent=2, ensure_ascii=False)
            parts.append(f"`{event_type}`\n\n```json\n{block}\n```\n")
    return "\n".join(parts)


SECTIONS: Final[dict[str, Callable[[], str]]] = {
    "topics": topics_table,
    "examples": example_blocks,
}


def refreshed(document: str) -> str:
    """`document` with every generated section rendered anew from the code."""
    for name, render in SECTIONS.items():
        begin, end = f"<!-- generated: {name} -->\n", f"<!-- end generated: {name} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.S)
        found = pattern.search(document)
        if found is None:
            raise ValueError(f"no generated section {name!r} in the document")
        document = document[: found.start()] + begin + render() + end + document[found.end() :]
    return document


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/contract.md")
    text = path.read_text(encoding="utf-8")
    new = refreshed(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: {'refreshed' if new != text else 'already in step with the code'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
