"""get_context function: the XML block and JSON of what was learned about a user."""

from learning_machine.api.app import context_resolver
from learning_machine.api.handler import rest_handler

app = context_resolver()
# Untraced by Powertools (Lambda's active tracing still records it): its cold start is budgeted.
lambda_handler = rest_handler(app, traced=False)
