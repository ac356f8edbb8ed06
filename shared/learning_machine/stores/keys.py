"""The DynamoDB key layout of the data table, in one place.

Every partition key starts with the tenant, so no read or write can cross tenants.

| item                | pk                     | sk                  | by-user index: gsi1pk, gsi1sk |
|---------------------|------------------------|---------------------|-------------------------------|
| profile             | T#t#U#u                | PROFILE             |                               |
| memory              | T#t#U#u                | MEM#<id>            |                               |
| memory version      | T#t#U#u#HIST           | <id>#<version:06>   |                               |
| session context     | T#t#S#s                | SESSION             | T#t#U#u, SESSION#s            |
| transcript status   | T#t#TR#id              | STATUS              | T#t#U#u, TRANSCRIPT#id        |
| tenant config       | T#t#CONFIG             | current             |                               |
| config version      | T#t#CONFIG#HIST        | v#<version:06>      |                               |
| token usage         | T#t#USAGE              | <yyyy-mm>           |                               |
| daily usage         | T#t#USAGE#DAY          | <yyyy-mm-dd>        |                               |
| tenant limits       | T#t#LIMITS             | current             |                               |
| entity              | T#t#NS#n#E             | <entity id>         |                               |
| entity name / alias | T#t#NS#n#N             | <normalized name>   |                               |
| relationship end    | T#t#NS#n#G#<entity id> | <out|in>#<rel>#<id> |                               |
| insight             | T#t#NS#n#K             | <insight id>        |                               |
| index outbox entry  | T#t#OUTBOX             | <time-ordered id>   |                               |
| index delete repeat | T#t#OUTBOX#REPEAT      | <due ms:015>#<id>   |                               |
| known user          | T#t#USERS              | <user id>           |                               |
| known namespace     | T#t#NAMESPACES         | <namespace>         |                               |
| curation job        | T#t#CURATE             | JOB#<job id>        |                               |
| curation schedule   | T#t#CURATE             | SCHEDULE            |                               |
| curation change     | T#t#CURATE#<job id>    | <unit>#<kind>#<id>  |                               |

Profile and memories share a partition so get-context reads both in one query.
"""

from __future__ import annotations

PROFILE_SK = "PROFILE"
MEMORY_PREFIX = "MEM#"
SESSION_SK = "SESSION"
STATUS_SK = "STATUS"
CONFIG_SK = "current"
USER_INDEX = "gsi1"
# Sort keys in the by-user index (gsi1sk): what kind of record a key names, and which one.
SESSION_INDEX_PREFIX = "SESSION#"
TRANSCRIPT_INDEX_PREFIX = "TRANSCRIPT#"


def user_pk(tenant: str, user: str) -> str:
    return f"T#{tenant}#U#{user}"


def history_pk(tenant: str, user: str) -> str:
    return f"T#{tenant}#U#{user}#HIST"


def memory_sk(memory_id: str) -> str:
    return f"{MEMORY_PREFIX}{memory_id}"


def history_sk(memory_id: str, version: int) -> str:
    return f"{memory_id}#{version:06d}"


def session_pk(tenant: str, session: str) -> str:
    return f"T#{tenant}#S#{session}"


def transcript_pk(tenant: str, transcript_id: str) -> str:
    return f"T#{tenant}#TR#{transcript_id}"


def config_pk(tenant: str) -> str:
    return f"T#{tenant}#CONFIG"


def config_history_pk(tenant: str) -> str:
    return f"T#{tenant}#CONFIG#HIST"


def usage_pk(tenant: str) -> str:
    return f"T#{tenant}#USAGE"


def usage_day_pk(tenant: str) -> str:
    return f"T#{tenant}#USAGE#DAY"


def limits_pk(tenant: str) -> str:
    return f"T#{tenant}#LIMITS"


LIMITS_SK = "current"


def entity_pk(tenant: str, namespace: str) -> str:
    return f"T#{tenant}#NS#{namespace}#E"


def entity_name_pk(tenant: str, namespace: str) -> str:
    return f"T#{tenant}#NS#{namespace}#N"


def edge_pk(tenant: str, namespace: str, entity_id: str) -> str:
    return f"T#{tenant}#NS#{namespace}#G#{entity_id}"


def insight_pk(tenant: str, namespace: str) -> str:
    return f"T#{tenant}#NS#{namespace}#K"


def outbox_pk(tenant: str) -> str:
    return f"T#{tenant}#OUTBOX"


def repeat_pk(tenant: str) -> str:
    return f"T#{tenant}#OUTBOX#REPEAT"


def users_pk(tenant: str) -> str:
    return f"T#{tenant}#USERS"


def namespaces_pk(tenant: str) -> str:
    return f"T#{tenant}#NAMESPACES"


def curation_pk(tenant: str) -> str:
    return f"T#{tenant}#CURATE"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


SCHEDULE_SK = "SCHEDULE"


def job_changes_pk(tenant: str, job_id: str) -> str:
    return f"T#{tenant}#CURATE#{job_id}"
