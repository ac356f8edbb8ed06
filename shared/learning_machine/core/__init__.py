"""The domain's pure rules: errors, ids, dates, namespaces, redaction, scores and ranking, and how a
write to a user's memory is made. No I/O: the services, stores and adapters build on these."""
