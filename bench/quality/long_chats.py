"""`python -m bench.quality.long_chats [long_chats|pair_chats]`: builds data/<name>.json from the
hand-written chats in <name>/*.txt (long_chats by default: a user and an assistant; pair_chats: two
people), so a reader sees the words as written and how they became the dataset.

Nothing here is generated at random: every turn and question is written by hand in the .txt files;
this script only numbers the turns, dates the sessions, resolves the questions' evidence labels into
turn ids, checks the result with the harness's own validation, and writes the JSON (same input, same
bytes).

The .txt format, one item per line (blank lines and lines starting with `//` are skipped):

    @conversation nadia                    the conversation id (turn ids start with it)
    @user Nadia                            the user's speaker name; the other speaker is "assistant"
    == 2024-01-09                          a new session and its date (any text the harness accepts)
    U: text                                a turn by the user
    A: text                                a turn by the assistant
    U#label: text                          a turn a question can cite as evidence by its label
    Q category | question | answer | label, label     a question (no labels when unanswerable)

A chat between two people declares them instead of `@user`, and its turns start with their names:

    @speakers Lena, Omar                   the two speakers (no `U:`/`A:` turns then)
    Lena: text                             a turn by Lena
    Omar#label: text                       a turn by Omar that a question can cite by its label
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

from bench.quality.dataset import parse

HERE = Path(__file__).parent
SOURCES = HERE / "long_chats"
OUTPUT = HERE / "data" / "long_chats.json"
DESCRIPTION = (
    "Five long multi-session chats between a user and an assistant, written by hand for this project"
    " (bench/quality/long_chats/*.txt, built by bench/quality/long_chats.py): work, family, hobbies,"
    " travel, health and purchases over months, facts that change, small talk that mentions the same"
    " words without holding the answer. Questions are single-hop, multi-hop, temporal,"
    " knowledge-update and unanswerable (no evidence)."
)

PAIR_DESCRIPTION = (
    "Three long multi-session chats between two people who both talk about their own lives (friends,"
    " siblings), written by hand for this project (bench/quality/pair_chats/*.txt, built by"
    " bench/quality/long_chats.py): jobs, moves, family, hobbies, trips, health, pets and purchases"
    " over months, facts that change, each asking the other and answering. Questions are single-hop,"
    " multi-hop, temporal, knowledge-update and unanswerable (no evidence)."
)


class Source(NamedTuple):
    folder: Path
    output: Path
    description: str


DATASETS = {
    "long_chats": Source(SOURCES, OUTPUT, DESCRIPTION),
    "pair_chats": Source(HERE / "pair_chats", HERE / "data" / "pair_chats.json", PAIR_DESCRIPTION),
}


class SourceError(ValueError):
    pass


def _speaker(head: str, user: str, speakers: list[str]) -> str | None:
    """Who says a turn whose line starts with `head:` (`U`, `A#label`, `Lena`...), None if nobody."""
    name = head.split("#", 1)[0]
    if speakers:
        return name if name in speakers else None
    return {"U": user, "A": "assistant"}.get(name)


def conversation(path: Path) -> dict[str, Any]:
    """One .txt file as a conversation of the dataset format."""
    conversation_id = user = ""
    speakers: list[str] = []
    sessions: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    questions: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith("//"):
            continue
        if line.startswith("@conversation "):
            conversation_id = line.split(maxsplit=1)[1]
        elif line.startswith("@user "):
            user = line.split(maxsplit=1)[1]
            if speakers:
                raise SourceError(f"{where}: `@user` and `@speakers` exclude each other")
        elif line.startswith("@speakers "):
            speakers = [name.strip() for name in line.split(maxsplit=1)[1].split(",")]
            if len(speakers) != 2 or not all(speakers) or user:
                raise SourceError(f"{where}: `@speakers` names two people, in place of `@user`")
        elif line.startswith("== "):
            session_id = f"{conversation_id}-s{len(sessions) + 1}"
            sessions.append({"session_id": session_id, "date": line[3:].strip(), "turns": []})
        elif line.startswith("Q "):
            questions.append(_question(line[2:], conversation_id, len(questions) + 1, where))
        elif ":" in line and (speaker := _speaker(line.split(":", 1)[0], user, speakers)) is not None:
            head, text = line.split(":", 1)
            if not sessions:
                raise SourceError(f"{where}: a turn outside a session")
            turns = sessions[-1]["turns"]
            turn_id = f"{sessions[-1]['session_id']}-t{len(turns) + 1}"
            if "#" in head:
                label = head.split("#", 1)[1]
                if label in labels:
                    raise SourceError(f"{where}: label {label!r} is used twice")
                labels[label] = turn_id
            turns.append({"turn_id": turn_id, "speaker": speaker, "text": text.strip()})
        else:
            raise SourceError(f"{where}: not a line of the format: {line[:60]!r}")
    for question in questions:
        missing = [label for label in question["evidence"] if label not in labels]
        if missing:
            raise SourceError(f"{path.name}: {question['question_id']} cites unknown labels {missing}")
        question["evidence"] = [labels[label] for label in question["evidence"]]
    return {"conversation_id": conversation_id, "sessions": sessions, "questions": questions}


def _question(line: str, conversation_id: str, number: int, where: str) -> dict[str, Any]:
    parts = [part.strip() for part in line.split("|")]
    if len(parts) != 4:
        raise SourceError(f"{where}: a question is `Q category | question | answer | labels`")
    category, question, answer, evidence = parts
    return {
        "question_id": f"{conversation_id}-q{number}",
        "question": question,
        "answer": answer,
        "evidence": [label.strip() for label in evidence.split(",") if label.strip()],
        "category": category,
    }


def build(name: str = "long_chats") -> dict[str, Any]:
    source = DATASETS[name]
    conversations = [conversation(path) for path in sorted(source.folder.glob("*.txt"))]
    document = {"name": name, "description": source.description, "conversations": conversations}
    parse(document, name)  # the harness's own rules, before anything is written
    return document


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0] not in DATASETS):
        print(f"usage: python -m bench.quality.long_chats [{'|'.join(DATASETS)}]", file=sys.stderr)
        return 2
    name = argv[0] if argv else "long_chats"
    output = DATASETS[name].output
    output.write_text(json.dumps(build(name), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
