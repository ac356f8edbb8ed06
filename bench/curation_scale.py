"""A tenant with 100,000 memories curated across Lambda-sized slices (local stack's moto).

Seeds USERS users x MEMORIES_PER_USER memories straight into the data table (DUPLICATES_PER_USER
of them exact duplicates up to punctuation), then runs one whole-tenant curation job the way the
curate function does: one slice per queue message, each given the function's 300 s timeout less
its reserve. Budget: every slice ends inside the timeout, the job needs several slices, and each
duplicate is merged exactly once (no change made twice). The embedder is the hashing fallback, so
the figures are curation and DynamoDB time, not embedding time.

`--embed` adds `embed_memories`, as the first scheduled job after an upgrade runs it: the seeded
memories have no vector, so every memory left after the merges gets one (budget: all of them, in
transactions of 50, and the slices still inside the timeout); results in curation_scale_embed.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import summary, write_result
from learning_machine.adapters import dynamodb
from learning_machine.cli.target import load_local_env
from learning_machine.composition import Services
from learning_machine.core.memory_rules import new_memory_id
from learning_machine.curation.memories import EMBEDS_PER_COMMIT
from learning_machine.models.common import Layer
from learning_machine.models.curation import CurateRequest, Operation
from learning_machine.models.memories import Memory
from learning_machine.models.provenance import Provenance
from learning_machine.settings import get_settings
from learning_machine.stores.keys import MEMORY_PREFIX, memory_sk, user_pk, users_pk

USERS = int(os.environ.get("BENCH_USERS", "1000"))
MEMORIES_PER_USER = 100
DUPLICATES_PER_USER = 5
LAMBDA_TIMEOUT_SECONDS = 300.0
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "pu", "ra", "si", "tu") for b in range(250)]


def seed(tenant: str, rng: random.Random) -> int:
    table = dynamodb.table(get_settings().data_table)
    layers = list(Layer)
    at = datetime.now(UTC) - timedelta(days=3)
    written = 0
    with table.batch_writer() as batch:
        for n in range(USERS):
            user = f"user{n:05d}"
            batch.put_item(Item={"pk": users_pk(tenant), "sk": user})
            texts = [" ".join(rng.sample(WORDS, 8)) for _ in range(MEMORIES_PER_USER - DUPLICATES_PER_USER)]
            texts += [texts[k] + "!" for k in range(DUPLICATES_PER_USER)]
            for k, text in enumerate(texts):
                layer = layers[(k % (MEMORIES_PER_USER - DUPLICATES_PER_USER)) % len(layers)]
                memory = Memory(
                    memory_id=new_memory_id(),
                    user_id=user,
                    layer=layer,
                    content=text,
                    created_at=at,
                    updated_at=at,
                    valid_from=at,
                    provenance=Provenance(source="import", recorded_at=at),
                )
                batch.put_item(
                    Item=dynamodb.item(user_pk(tenant, user), memory_sk(memory.memory_id), memory, 1)
                )
                written += 1
    return written


def unembedded(tenant: str, table: str) -> int:
    """Memories of the tenant's users still without a vector, read back from the table."""
    count = 0
    for n in range(USERS):
        for sk, _, vector in dynamodb.query_docs(table, user_pk(tenant, f"user{n:05d}")):
            count += vector is None and sk.startswith(MEMORY_PREFIX)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embed", action="store_true", help="also run embed_memories (see above)")
    embed = parser.parse_args().embed
    load_local_env()
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("run `make up` first: this benchmark writes to the local stack's moto server", file=sys.stderr)
        return 2
    os.environ["LM_EMBEDDING_BACKEND"] = "hashing"
    get_settings.cache_clear()
    settings = get_settings()
    curation = Services(settings).curation
    tenant = f"bench-curate-{uuid.uuid4().hex[:6]}"

    started = time.perf_counter()
    memories = seed(tenant, random.Random(7))
    seed_seconds = time.perf_counter() - started

    operations: list[Operation] = ["merge_memories", "prune_memories"] + (["embed_memories"] if embed else [])
    job_id = curation.start(tenant, CurateRequest(operations=operations)).job_id
    slice_seconds: list[float] = []
    job = None
    while job is None or job.status == "running":
        begun = time.perf_counter()

        def seconds_left(begun: float = begun) -> float:
            elapsed = time.perf_counter() - begun
            return LAMBDA_TIMEOUT_SECONDS - elapsed - settings.curation_reserve_seconds

        job = curation.runner.run_slice(tenant, job_id, seconds_left)
        slice_seconds.append(time.perf_counter() - begun)
        assert job is not None  # while running, the function would queue the next slice here
    merges = job.progress.by_kind.get("merge_memories", 0)
    left_per_user = MEMORIES_PER_USER - DUPLICATES_PER_USER
    expected_embeds = USERS * -(-left_per_user // EMBEDS_PER_COMMIT) if embed else 0
    embeds = job.progress.by_kind.get("embed_memories", 0)
    without_vector = unembedded(tenant, settings.data_table) if embed else None
    figures = {
        "operations": operations,
        "memories": memories,
        "users": USERS,
        "expected_merges": USERS * DUPLICATES_PER_USER,
        "merges": merges,
        "embed_transactions": embeds,
        "expected_embed_transactions": expected_embeds,
        "memories_left_without_vector": without_vector,
        "status": job.status,
        "slices": len(slice_seconds),
        "slice_seconds": summary(slice_seconds),
        "total_curation_seconds": round(sum(slice_seconds), 1),
        "memories_per_second": round(memories / sum(slice_seconds), 1),
        "seed_seconds": round(seed_seconds, 1),
        "units_per_slice": settings.curation_units_per_slice,
        "embedder": "hashing (deterministic fallback)",
        "budget": {"slice_seconds_max": LAMBDA_TIMEOUT_SECONDS, "slices_min": 2},
    }
    ok = (
        job.status == "done"
        and merges == USERS * DUPLICATES_PER_USER
        and embeds == expected_embeds
        and not without_vector
        and max(slice_seconds) < LAMBDA_TIMEOUT_SECONDS
        and len(slice_seconds) >= 2
    )
    figures["within_budget"] = ok
    write_result("curation_scale_embed" if embed else "curation_scale", figures, "bench.curation_scale")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
