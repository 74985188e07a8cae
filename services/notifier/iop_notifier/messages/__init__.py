"""Rendering of emails, SMS bodies and calendar attachments from templates (pure)."""
