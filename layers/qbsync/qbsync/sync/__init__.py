"""Business logic: pure mappers and orchestration over injected ports (no boto3 here)."""
