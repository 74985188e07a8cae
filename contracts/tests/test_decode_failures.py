"""Whatever a record holds, decoding it ends in an event or in a ContractError with a clear
reason: never a RecursionError, UnicodeDecodeError, OverflowError or TypeError that a consumer's
ContractError handler would miss (and then retry the record forever)."""

import json
from typing import Any

import pytest
from iop_contracts import (
    MAX_DEPTH,
    ContractError,
    EnrollmentRequested,
    decode_record,
    encode_event,
    new_event,
    parse_payload,
)
from iop_contracts.examples import ENROLLMENT


def _envelope() -> dict[str, Any]:
    event = new_event(EnrollmentRequested.model_validate(ENROLLMENT), source="/t")
    raw: dict[str, Any] = json.loads(encode_event(event).value)
    return raw


def _with_data(**fields: Any) -> bytes:
    raw = _envelope()
    raw["data"].update(fields)
    return json.dumps(raw).encode()


def _nested_lists(levels: int) -> Any:
    """`levels` lists inside one another, built without recursion."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def _nested_text(levels: int) -> bytes:
    return b'{"a": ' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def _envelope_text_with(extra: bytes) -> bytes:
    """A valid envelope whose data gains one field, `extra`, spliced in as raw JSON text."""
    text = json.dumps(_envelope()).encode()
    return text.replace(b'"data": {', b'"data": {"extra": ' + extra + b", ", 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 6001 + b"]" * 6001, "value: nested deeper than 64 levels"),
        (_nested_text(6001), "value: nested deeper than 64 levels"),
        (_envelope_text_with(b"[" * 6001 + b"]" * 6001), "value: nested deeper than 64 levels"),
        (b'{"id": "\xff\xfe"}', "value: not UTF-8 JSON (UnicodeDecodeError)"),
        (json.dumps(_envelope()).encode("utf-16"), "value: not UTF-8 JSON (UnicodeDecodeError)"),
        (b'{"id": ', "value: not UTF-8 JSON (JSONDecodeError)"),
        (b"[1, 2]", "value: not a JSON object"),
        (b'"an envelope"', "value: not a JSON object"),
        (b"null", "value: not a JSON object"),
        (_envelope_text_with(b"9" * 5000), "value: an integer beyond"),
        (_envelope_text_with(b"-9007199254740992"), "value: an integer beyond"),
        (_envelope_text_with(b"1e999"), "value: a number too large for a double"),
        (_envelope_text_with(b"NaN"), "value: NaN and Infinity are not JSON"),
        (_envelope_text_with(b"-Infinity"), "value: NaN and Infinity are not JSON"),
        (_with_data(program_weeks="eight"), "data.program_weeks: Input should be a valid integer"),
        (_with_data(program_weeks=1e300), "data.program_weeks: "),
        (_with_data(availability={"day": "mon"}), "data.availability: "),
        (json.dumps({**_envelope(), "type": "iop.enrollment.exploded"}).encode(), "type: unknown"),
        (json.dumps({**_envelope(), "data": [1]}).encode(), "data: Input should be a valid dict"),
        (json.dumps({**_envelope(), "time": 10**15}).encode(), "time: Input should be a valid"),
        (json.dumps({**_envelope(), "time": 4102444800}).encode(), "time: Value error, must lie"),
    ],
)
def test_each_bad_record_is_a_contract_error_with_its_reason(value: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        decode_record(value)
    assert str(refused.value).startswith(reason), str(refused.value)


def test_a_refused_number_is_not_quoted() -> None:
    with pytest.raises(ContractError) as refused:
        decode_record(_envelope_text_with(b"12345678901234567890"))
    assert "1234567890" not in str(refused.value)


def test_values_nested_up_to_the_limit_decode_and_one_level_more_does_not() -> None:
    # The envelope is level 1 and its data level 2: `extra` may add MAX_DEPTH - 2 levels.
    deep_enough = _with_data(extra=_nested_lists(MAX_DEPTH - 2))
    assert decode_record(deep_enough).payload().subject == ENROLLMENT["client_id"]
    with pytest.raises(ContractError, match="nested deeper than 64 levels"):
        decode_record(_with_data(extra=_nested_lists(MAX_DEPTH - 1)))


def test_deep_mappings_are_refused_without_recursing() -> None:
    deep: dict[str, Any] = {}
    for _ in range(6000):
        deep = {"a": deep}
    with pytest.raises(ContractError, match=r"^data: nested deeper than 64 levels"):
        parse_payload("iop.enrollment.requested", {**ENROLLMENT, "extra": deep})
    with pytest.raises(ContractError, match=r"^value: nested deeper than 64 levels"):
        decode_record({**_envelope(), "data": {**ENROLLMENT, "extra": deep}})


@pytest.mark.parametrize("value", [12, 1.5, ["a"], object()])
def test_a_value_of_the_wrong_kind_is_a_contract_error(value: Any) -> None:
    with pytest.raises(ContractError, match=r"^value: "):
        decode_record(value)
