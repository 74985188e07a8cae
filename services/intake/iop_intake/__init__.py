"""IOP intake service."""
