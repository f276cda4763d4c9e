"""Alerts forwarded to other systems: signed webhooks per rule and severity, CAP 1.2 XML."""
