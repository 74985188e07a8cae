"""Kafka <-> clinic: the publisher, the attendance front door, the alert desk."""
