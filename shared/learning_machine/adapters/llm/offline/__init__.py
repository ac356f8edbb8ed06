"""Offline extraction: a rule-based stand-in for the model, for the demo without a key or endpoint.

This is not a language model. It is a table of English regular expressions and keyword lists that
turn a few common phrasings in the *user* messages into the same `ExtractionResult` a model would
return, so the pipeline, the stores and the context block can be shown end to end offline.

What it does:
- profile fields from stock phrasings ("my name is", "call me", "I'm a ROLE at COMPANY", "I live
  in", "my time zone is", "please answer in LANGUAGE", "my <schema field> is ...");
- memories in the four layers from stock phrasings (preferences and rules, background, projects and
  stack, feedback on the preceding assistant message), written as third-person sentences;
- consolidation against the current memories: near-duplicates become `noop`, a new statement on
  the same slot (answer length, language, contact channel, a project, ...) becomes `update`,
  "forget that ..." becomes `delete`;
- a bounded session summary, and with planning a goal, a plan and the steps reported done;
- entities from stock phrasings: "I work at/for COMPANY (as ROLE)" (the company, with the fact that
  it employs the user), "X is a company/project/tool ..." (an upsert with a type and description),
  "X uses / runs on / is written in ... Y" (a fact on X; when a shown fact of X has the same verb
  and a single-valued or same-named object, as "runs on Postgres 15" -> "Postgres 16", the new fact
  supersedes it by id), and "yesterday / last Friday / on March 3 we launched X" (an event on X
  with the date as said). Names are matched to the shown entities case-insensitively and by alias.

What it does not do: understand paraphrases or anything its patterns do not spell out, read any
language but English, resolve pronouns across messages, learn from assistant messages, relate
entities to each other, or judge whether a statement is true, hypothetical or sarcastic. It
proposes no learned knowledge: telling a reusable insight from a personal detail needs judgement
that rules do not have, so `knowledge_operations` is always empty. Sentences that hold a secret
(passwords, API keys, tokens, card numbers), or a placeholder where one was redacted on intake, are
skipped entirely; what counts as a secret is decided in one place, `learning_machine.core.redaction`.

One concern a module, in the order a transcript flows through them: `text` (vocabulary and text
helpers), `rules` (the rule table), `reading` (the user's turns matched against it), `memories`
(consolidation into memory and profile operations), `sessions` (summary, goal, plan, progress),
`entities`, and `model` (the ExtractionModel itself).
"""

from .model import OfflineExtractionModel

__all__ = ["OfflineExtractionModel"]
