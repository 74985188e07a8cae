"""The notifier's edges: Kafka, SMTP, the SMS gateway, the SQLite ledger. Each one thin."""
