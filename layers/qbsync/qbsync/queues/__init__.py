"""SQS access: publishing messages, probing queues, dead-letter handling."""
