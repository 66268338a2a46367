"""The only code that touches DynamoDB. Repositories return pydantic models and raise qbsync errors."""
