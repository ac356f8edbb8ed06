"""Runnable examples of using the service from an agent."""
