"""The local stack behind `make run`: moto server, a local API Gateway, queue workers and schedules in front
of the real handlers, plus our QBO and CRM emulators. Dev only; never part of a Lambda package."""
