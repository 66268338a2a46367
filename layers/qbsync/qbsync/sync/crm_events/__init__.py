"""Applying CRM events to QBO (SPEC F11-F17, G1-G3, G5; issue 5 §2-3)."""
