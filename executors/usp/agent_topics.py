"""Where each USP agent listens, as the USP adapter sees it: through the
port :mod:`core.kernel.ports.topics` (``AgentTopics``, ``KnownTopic``, ``Mismatch``, ``topic_problem``).
The book that remembers topics in the database is a core service, :mod:`core.usp_topics`, which the
composition root hands the adapter (the adapter imports no store).
"""

from __future__ import annotations

from core.kernel.ports.topics import MAX_ID as MAX_ID
from core.kernel.ports.topics import MAX_TOPIC as MAX_TOPIC
from core.kernel.ports.topics import SOURCES as SOURCES
from core.kernel.ports.topics import AgentTopics as AgentTopics
from core.kernel.ports.topics import KnownTopic as KnownTopic
from core.kernel.ports.topics import Mismatch as Mismatch
from core.kernel.ports.topics import topic_problem as topic_problem
