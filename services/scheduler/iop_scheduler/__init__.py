"""IOP scheduler service."""
