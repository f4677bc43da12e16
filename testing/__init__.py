"""Test doubles: stand-ins for the real peers Gateward talks to, for tests, evals and benchmarks.

Nothing in the product imports this package (``lint-imports`` enforces it; see README "How the
pieces fit"). Each double reproduces what the real system was *observed* to do, not only what its
documentation says:

* :mod:`testing.genieacs` — a local GenieACS 1.2 NBI with its store, CWMP session rules and CPE
  simulator (``python -m testing.genieacs.fake_nbi`` serves it over the simulated fleet)
* :mod:`testing.mqtt_broker` — a private Mosquitto (or embedded amqtt) broker per test or benchmark
* :mod:`testing.llm_server` — a local OpenAI-compatible server replaying scripted answers
* :mod:`testing.opa_server` — a local server speaking OPA's Data API over the embedded engine
* :mod:`testing.databases`, :mod:`testing.bulk_fleet` — throw-away databases and synthetic fleets
"""
