"""Switchboard: a self-hosted server for Twilio's TaskRouter v1 API and the routing engine behind it."""

__version__ = "0.1.0"
