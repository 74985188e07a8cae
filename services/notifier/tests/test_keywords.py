import pytest
from iop_notifier.domain.keywords import Keyword, keyword_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.STOP),
        (" stop please", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("alto", Keyword.STOP),
        ("START", Keyword.START),
        ("unstop", Keyword.START),
        ("help?", Keyword.HELP),
        ("ayuda", Keyword.HELP),
        ("see you monday", None),
        ("", None),
    ],
)
def test_keywords(text: str, expected: Keyword | None) -> None:
    assert keyword_of(text) is expected
