"""Python client for the Learning Machine API (sync and async, over httpx).

    from learning_machine.client import LearningMachineClient

    with LearningMachineClient() as lm:          # LM_API_URL, LM_API_KEY
        lm.post_transcript("ada", "s1", [{"role": "user", "content": "I'm Ada, call me Ada."}])
        print(lm.get_context("ada", session_id="s1", query="deploys").xml)

Installed with the `client` extra (httpx). The Lambda handlers never import this package.
"""

from ._http import RetryPolicy
from .aio import AsyncLearningMachineClient
from .errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    LearningMachineError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from .schema import profile_schema
from .sync import LearningMachineClient

__all__ = [
    "AsyncLearningMachineClient",
    "AuthenticationError",
    "ConflictError",
    "InvalidRequestError",
    "LearningMachineClient",
    "LearningMachineError",
    "NotFoundError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "profile_schema",
]
