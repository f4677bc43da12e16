"""The guard measured without a model (issue 57 deliverable 2): perturbation runs.

Each message in ``messages.yaml`` (EN/DE/FR/ES, written for this harness) comes with the request a
model should read from it. The harness answers the model path with that correct reading — the
control — and then with the same answer perturbed one field at a time the way a model errs (a
condition dropped or inverted, "now" instead of the time asked, a wider or narrower scope, the wrong
band or network, the first of two corrected values, an invented path, the old and the new secret
swapped, a question turned into a change). Each answer is replayed as the model's tool call through
the recorded-model path (``testing.llm_server``, the real ``openai`` client, ``ChatService``), and the
turn's outcome is compared with the control's: a perturbation is **caught** when what would be
written is unchanged — nothing submitted (a question, a refusal) or the very write the correct
reading gives. The catch rate is reported per field (``gateward eval-guard``).
"""
