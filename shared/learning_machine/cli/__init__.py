"""The `lm` console script, and what two of its commands run on the user's machine: `lm mcp` (the
MCP server, mcp_server.py) and `lm replay` (dead-lettered transcripts back to the queue, replay.py)."""
