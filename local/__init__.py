"""Dev stack only: moto server, local API, SQS poller, `up`/`down`. Never packaged or deployed."""
