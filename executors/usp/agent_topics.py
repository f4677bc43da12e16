"""Where each USP agent listens (issue 11, deliverable 4), as the USP adapter sees it: through the
port :mod:`core.ports.topics` (``AgentTopics``, ``KnownTopic``, ``Mismatch``, ``topic_problem``).
The book that remembers topics in the database is a core service, :mod:`core.usp_topics`, which the
composition root hands the adapter (issue 35: the adapter imports no store).
"""

from __future__ import annotations

from core.ports.topics import MAX_ID as MAX_ID
from core.ports.topics import MAX_TOPIC as MAX_TOPIC
from core.ports.topics import SOURCES as SOURCES
from core.ports.topics import AgentTopics as AgentTopics
from core.ports.topics import KnownTopic as KnownTopic
from core.ports.topics import Mismatch as Mismatch
from core.ports.topics import topic_problem as topic_problem
