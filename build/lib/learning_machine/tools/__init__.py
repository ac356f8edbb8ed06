"""Agent tools (AGENTIC mode): OpenAI function-calling definitions for the enabled stores, and the
executor that runs a call for one user of the caller's tenant, validated like any other input."""
