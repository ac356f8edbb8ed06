"""API function: transcripts intake and status, profile, memories, sessions, config."""

from learning_machine.api.app import api_resolver
from learning_machine.api.handler import rest_handler

app = api_resolver()
lambda_handler = rest_handler(app)
