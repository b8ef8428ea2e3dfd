"""Ingestion: mail sources feed one intake."""
