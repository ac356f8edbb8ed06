"""search function: ranked results across memories, entities and learned knowledge."""

from learning_machine.api.app import search_resolver
from learning_machine.api.handler import rest_handler

app = search_resolver()
# Untraced by Powertools (Lambda's active tracing still records it): its cold start is budgeted.
lambda_handler = rest_handler(app, traced=False)
