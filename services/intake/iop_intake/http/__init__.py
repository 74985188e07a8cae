"""The HTTP API of intake (FastAPI)."""
