"""Intake's pure rules: screening, access scopes, status projection. No I/O here."""
