"""Follow-up questions: what a question is about when it leans on the conversation.

"and who calls it?" says nothing searchable on its own. When a question reads as a
follow-up (it opens like one, points back with a pronoun, or has almost no terms of its
own), retrieval adds the subject of the conversation: the terms of the questions it
continues, the names of the files the last answer cited, and the code names it quoted.
A question that stands alone is retrieved as it is, even inside a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from chalicelib.domain.answers import Turn
from chalicelib.domain.tokens import STOPWORDS

_OPENERS = ("and ", "also ", "but ", "so ", "then ", "what about", "how about", "what else")
_POINTERS = frozenset(
    (
        "it", "its", "it's", "this", "that", "these", "those", "they", "them", "their",
        "there", "he", "she", "him", "her", "former", "latter", "same", "one", "ones", "above",
    )
)  # fmt: skip
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_']*")
# Code names an answer quotes: `backticked`, or called like name(...).
_CODE_NAME = re.compile(r"`([A-Za-z_][\w.]{2,60})`|\b([A-Za-z_]\w{2,60})\(")
_OWN_TERMS = 1  # a question with at most this many terms of its own leans on the context
_CONTINUED = 3  # how many earlier questions a chain of follow-ups may reach back
_SOURCES = 3
_CODE_NAMES = 4


def is_follow_up(question: str) -> bool:
    text = " ".join(question.lower().split())
    words = _WORD.findall(text)
    if text.startswith(_OPENERS) or any(w in _POINTERS for w in words):
        return True
    return len(content_terms(question)) <= _OWN_TERMS


def content_terms(text: str) -> list[str]:
    """The words of `text` that are not stopwords, in order, once each."""
    words = (w.strip("'") for w in _WORD.findall(text.lower()))
    kept = [w for w in words if len(w) > 1 and w not in STOPWORDS and w not in _POINTERS]
    return list(dict.fromkeys(kept))


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """What to retrieve with: the question, plus the conversation's subject when the
    question is a follow-up."""
    if not history or not is_follow_up(question):
        return question
    subject = subject_terms(history)
    own = set(content_terms(question))
    extra = [t for t in subject if t not in own]
    return f"{question} {' '.join(extra)}" if extra else question


def subject_terms(history: Sequence[Turn]) -> list[str]:
    """What the conversation is about, most recent first: the last question's terms (and
    those of the questions it followed up on), the cited files' names, quoted code names."""
    terms: list[str] = []
    for turn in reversed(history[-_CONTINUED:]):
        terms.extend(content_terms(turn.question))
        if not is_follow_up(turn.question):
            break
    last = history[-1]
    for path in last.sources[:_SOURCES]:
        terms.append(PurePosixPath(path).stem)
    names = [a or b for a, b in _CODE_NAME.findall(last.answer)]
    terms.extend(n.split(".")[-1] for n in names[:_CODE_NAMES])
    return list(dict.fromkeys(t for t in terms if t))
