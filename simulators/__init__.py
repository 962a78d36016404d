"""Simulated wristbands: physiology, movement, battery, scenarios and an MQTT fleet.

Messages are built from firmware-contracts/ only; nothing here imports `ingest`.
"""
