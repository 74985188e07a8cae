"""Kafka and solver adapters of the scheduler service: thin, each behind a small interface."""
