"""Kafka side of Tocsin: the event contract, the consumer loop, the DLQ."""
