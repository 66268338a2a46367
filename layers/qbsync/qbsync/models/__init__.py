"""Pydantic models, one module per owner (CRM events in, CRM API out, QBO entities, queue messages, ...)."""
