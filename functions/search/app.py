"""search function: ranked results across memories, entities and learned knowledge."""

from learning_machine.api.app import search_resolver
from learning_machine.api.handler import rest_handler

app = search_resolver()
lambda_handler = rest_handler(app)
