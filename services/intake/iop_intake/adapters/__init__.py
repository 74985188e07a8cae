"""Kafka and HTTP edges of intake; each thin, the rules live in iop_intake.domain."""
