"""Stateful detection rules over event time. Pure: no Kafka, no SQL, no wall clock."""
