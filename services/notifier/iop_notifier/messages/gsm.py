"""Keep SMS bodies in the GSM 03.38 alphabet, so 160 characters really are one message.

One character outside it (Spanish á, í, ó, ú are) switches the whole message to UCS-2 and the
limit to 70: such letters are replaced by their unaccented form.
"""

import unicodedata

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def to_gsm7(text: str) -> str:
    out = []
    for ch in text:
        if ch in GSM7_BASIC:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch)[0]
        out.append(base if base in GSM7_BASIC else "?")
    return "".join(out)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC for ch in text)
