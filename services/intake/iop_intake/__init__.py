"""IOP intake service: HTTP API, referral front door and bulk import -> enrollment events."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iop_intake.importer import ImportSummary, import_csv

__all__ = ["ImportSummary", "import_csv"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import iop_intake` (e.g. for settings) does not load Kafka clients.
    if name in __all__:
        from iop_intake import importer

        return getattr(importer, name)
    raise AttributeError(name)
