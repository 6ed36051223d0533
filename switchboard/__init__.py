"""Switchboard: a self-hosted server for Twilio's TaskRouter v1 API and its routing engine."""

__version__ = "0.1.0"
