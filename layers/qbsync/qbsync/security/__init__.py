"""Encryption of what we store (OAuth tokens) and comparison of what we are sent (API key)."""
