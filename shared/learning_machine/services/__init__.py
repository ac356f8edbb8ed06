"""Domain services: the operations behind the routes, tools and extraction, on stores and adapters.

Transcript intake and quotas, direct memory edits, entity memory, learned knowledge, search, the
index writes and query vectors (indexing), and a user's export and forget (user_data). Each is
built once by composition.py; none imports the API, extraction, curation, context or tools.
"""
