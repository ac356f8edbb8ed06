"""Where an `lm` command sends its calls: the local stack (`.local/env`, written by `make up`) or AWS.

Never a mix of the two. `.local/env` holds moto's endpoint, its `testing` credentials and the local
table and queue names; filling only the gaps of a shell aimed at AWS with them would send an API key
meant for a deployment into moto. So the file is read whole or not at all:
- `--stack NAME` takes the deployed stack's outputs (CloudFormation DescribeStacks) with the shell's
  credentials, and `--local` takes the file: each says outright which world a command is aimed at;
- otherwise the file is used only when the shell names no target of its own (no API URL or key for
  API commands; no table or queue, profile, credentials or endpoint for the commands that call AWS).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

LOCAL_ENV_FILE = Path(".local/env")
API_VARIABLES = ("LM_API_URL", "LM_API_KEY")
# Any of these in the shell aims an AWS call somewhere: the local stack's file must not redirect it.
AWS_TARGET_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
)


class TargetError(SystemExit):
    """The command's target is ambiguous or incomplete; the message says what to set."""


def read_env_file(path: Path = LOCAL_ENV_FILE) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not line.lstrip().startswith("#"):
            parts = shlex.split(value)
            values[name.strip()] = parts[0] if parts else ""
    return values


def load_local_env(path: Path = LOCAL_ENV_FILE) -> bool:
    """Take the local stack's settings from `path` (theirs win over the shell's); False if no stack ran."""
    if not path.exists():
        return False
    values = read_env_file(path)
    if "AWS_ENDPOINT_URL" in values:  # moto's credentials, not a profile's or a session's
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
    os.environ.update(values)
    return True


def _set_in_shell(names: Iterable[str]) -> list[str]:
    return [name for name in names if os.environ.get(name)]


def use_api_settings() -> tuple[str, str]:
    """LM_API_URL and LM_API_KEY, both from the shell or both from the local stack's file."""
    present = _set_in_shell(API_VARIABLES)
    if len(present) == 1:
        (missing,) = set(API_VARIABLES) - set(present)
        raise TargetError(f"{present[0]} is set but {missing} is not: export both (never taken from a file)")
    if not present and not load_local_env():
        raise TargetError("LM_API_URL and LM_API_KEY are not set (run `make up`, or export them)")
    return os.environ["LM_API_URL"].rstrip("/"), os.environ["LM_API_KEY"]


def use_aws_settings(own_variables: Iterable[str], *, local: bool) -> None:
    """For a command that calls AWS itself: the shell's settings, or the file's when `local` is asked
    for or the shell names no target; which one it took is said on stderr."""
    if not local and _set_in_shell((*own_variables, *AWS_TARGET_VARIABLES)):
        return
    if load_local_env():
        print(f"lm: the local stack ({os.environ.get('AWS_ENDPOINT_URL', LOCAL_ENV_FILE)})", file=sys.stderr)
    elif local:
        raise TargetError(f"--local: {LOCAL_ENV_FILE} does not exist (run `make up` first)")


def stack_outputs(stack_name: str, wanted: Iterable[str]) -> dict[str, str]:
    """The deployed stack's outputs (OutputKey -> OutputValue), with the shell's AWS credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (BotoCoreError, ClientError) as error:
        raise TargetError(f"--stack {stack_name}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in wanted if name not in outputs]
    if missing:
        names = ", ".join(missing)
        raise TargetError(f"--stack {stack_name}: no output {names} (is it this project's stack?)")
    return outputs
