"""The clinic service: the staff's side of the IOP system (attendance, compliance, make-ups,
reports)."""
