"""Inbound SMS keywords (CTIA's standard set, plus Spanish ones clients may send)."""

from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


_WORDS = {
    Keyword.STOP: {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "ALTO",
        "PARAR",
        "BAJA",
    },
    Keyword.START: {"START", "UNSTOP", "YES", "SUBSCRIBE", "SI", "SÍ", "ALTA"},
    Keyword.HELP: {"HELP", "INFO", "AYUDA"},
}


def keyword_of(text: str) -> Keyword | None:
    """The keyword a message is, judged by its first word ("stop please" is STOP)."""
    words = text.strip().upper().split()
    if not words:
        return None
    first = words[0].strip(".!¡?¿,")
    for keyword, spellings in _WORDS.items():
        if first in spellings:
            return keyword
    return None
