"""The clinic's HTTP API (FastAPI): attendance, the board's reads, make-ups, CSV reports."""
