"""The knowledge index: one interface (`base.KnowledgeIndex`), two engines, one ranking.

- `embedded.EmbeddedIndex`: SQLite on disk (FTS5 for BM25, sqlite-vec for k-NN) through apsw, for
  the local stack, the demo and the tests.
- `opensearch.OpenSearchIndex`: OpenSearch Serverless or a managed domain, signed with SigV4.

Both filter by tenant, namespace, kind and status inside the query and fuse the keyword and the
vector rankings with `fusion.fuse`, so the same inputs give the same order.
Engines are imported from their modules, never from here, so that importing the interface does
not pull apsw or opensearch-py into a cold start.
"""
