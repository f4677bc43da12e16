"""The model-driven planning loop: tool calls until the model proposes or responds.

Why a hand-written loop rather than a prebuilt agent: every step has to be policed. A tool the
model names is looked up in the closed read-only registry (``brain.tools``); anything else — a
made-up tool, an attempt to "set_parameter" or "apply" — is refused and the model is told so.
Arguments that are not JSON are refused and the model is asked again. The only way out with a
change is ``propose_change``, whose arguments are validated into a typed draft
(:class:`~brain.prompts.ProposeChange`); the graph then self-checks it and, on failure, comes back
here with the problems (:meth:`LLMPlanner.redraft`). After too many refusals, or when the endpoint
fails, the loop gives up with a reason and the graph falls back to the offline playbooks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from brain.llm import LLMClient, LLMError, ToolCallMsg, Usage
from brain.model_context import prompt_tokens
from brain.model_text import answer_problem, strip_markers
from brain.prompts import SYSTEM_PROMPT, ProposeChange, Respond, compact_schema, final_tool_schemas
from brain.tools import TOOLS, ToolContext, ToolResult, call_tool, openai_tools
from brain.untrusted import wrap
from core.kernel.jsontypes import JsonObject

WRITE_LIKE = re.compile(r"set|apply|write|update|reboot|reset|factory|delete|commit|approve|execute|push|"
                        r"configure|change_param|modify", re.IGNORECASE)

# A tool result longer than this (about 3k tokens) is cut before the model sees it (one tree read is ~8k
# tokens; a few of those crowd out the conversation and cost more than the answer is worth).
TOOL_OUTPUT_MAX_CHARS = 12000
# A plain-text reply that only announces work ("Let me check the neighbours first:") is not an answer.
_PREAMBLE = re.compile(r"^\s*(let me|let's|i'll|i will|i am going to|i'm going to|first,?( i|let)?|now i|"
                       r"ich werde|lass mich|je vais|laissez-moi|voy a|déjame|primero)\b[^.!?]{0,60}?\b"
                       r"(check|look|read|inspect|quer|gather|examin|see|call|use|fetch|pull|review|prüf|schau|"
                       r"lies|vérifi|regard|li(s|re)|revis|mir|consult)\w*|[:…]\s*$|\.\.\.\s*$", re.IGNORECASE)

OnTool = Callable[[ToolResult], None]
# Validation rules that mean "this path does not exist" (as opposed to a bad value or a policy matter).
_UNKNOWN_RULES = {"unknown_path", "root", "deleted"}
OnNotice = Callable[[str, dict[str, Any]], None]


@dataclass
class LLMOutcome:
    kind: Literal["draft", "respond", "fallback"]
    messages: list[dict[str, Any]]
    usage: Usage
    draft: ProposeChange | None = None
    respond: Respond | None = None
    reason: str = ""
    failure: str | None = None  # LLMError kind, or "reasks_exhausted", "steps_exhausted"
    tool_calls: int = 0
    refusals: list[str] = field(default_factory=list)
    pending_call_id: str | None = None


class LLMPlanner:
    def __init__(self, client: LLMClient, *, max_steps: int = 8, max_reasks: int = 3) -> None:
        self.client = client
        self.max_steps = max_steps
        self.max_reasks = max_reasks

    def tools(self) -> list[dict[str, Any]]:
        return [compact_schema(t) for t in openai_tools()] + final_tool_schemas()

    def fixed_tokens(self) -> int:
        """The estimated tokens every first prompt spends before the user message: the system prompt
        and the tools' schemas (``brain.model_context``)."""
        return prompt_tokens([{"role": "system", "content": SYSTEM_PROMPT}], self.tools())

    def start(self, ctx: ToolContext, first_user: str, on_tool: OnTool, on_notice: OnNotice) -> LLMOutcome:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": first_user}]
        return self._loop(ctx, messages, on_tool, on_notice)

    def redraft(self, ctx: ToolContext, messages: list[dict[str, Any]], call_id: str | None, feedback: str,
                on_tool: OnTool, on_notice: OnNotice) -> LLMOutcome:
        """The self-check refused the draft: tell the model why and let it try again."""
        msgs = list(messages)
        # The self-check's reasons quote values and the device's identity (a compat refusal names its
        # vendor/model/firmware): wrapped, like every device string a model sees.
        text = (f"The proposal was not submitted: {wrap(feedback, 'self-check')}. Fix it (read first if needed) "
                "or respond.")
        if call_id:
            msgs.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps({"ok": False, "error": text})})
        else:
            msgs.append({"role": "user", "content": text})
        return self._loop(ctx, msgs, on_tool, on_notice)

    def _loop(self, ctx: ToolContext, messages: list[dict[str, Any]], on_tool: OnTool,
              on_notice: OnNotice) -> LLMOutcome:
        turn = _Turn(ctx, messages, on_tool, on_notice)
        for _ in range(self.max_steps):
            try:
                reply = self.client.complete(messages, self.tools())
            except LLMError as exc:
                turn.usage = turn.usage.add(Usage(failures=1))
                return turn.out("fallback", reason=exc.message, failure=exc.kind)
            turn.usage = turn.usage.add(reply.usage)
            messages.append(reply.as_message())
            final = turn.text_reply(reply.content) if not reply.tool_calls else turn.tool_calls(reply.tool_calls)
            if final is not None:
                return final
            if turn.reasks > self.max_reasks:
                why = (f"the model made {turn.reasks} invalid requests ({', '.join(turn.refusals[-3:])})"
                       if reply.tool_calls else "the model kept returning replies without an answer or a tool call")
                return turn.out("fallback", reason=why, failure="reasks_exhausted")
        return turn.out("fallback", reason=f"no proposal or answer after {self.max_steps} model turns",
                        failure="steps_exhausted")


class _Turn:
    """One run of the loop: the conversation, what it cost, and every refusal on the way — each
    reply of the model handled by one method."""

    def __init__(self, ctx: ToolContext, messages: list[dict[str, Any]], on_tool: OnTool,
                 on_notice: OnNotice) -> None:
        self.ctx, self.messages, self.on_tool, self.on_notice = ctx, messages, on_tool, on_notice
        self.usage = Usage()
        self.reasks = 0
        self.calls = 0
        self.refusals: list[str] = []

    def out(self, kind: Literal["draft", "respond", "fallback"], **kw: Any) -> LLMOutcome:
        return LLMOutcome(kind=kind, messages=self.messages, usage=self.usage, tool_calls=self.calls,
                          refusals=self.refusals, **kw)

    def refuse(self, call_id: str, refusal: str, notice: str, data: JsonObject, error: str) -> None:
        """Tell the model why a call was not taken (its tool reply) and count a re-ask."""
        self.reasks += 1
        self.refusals.append(refusal)
        self.on_notice(notice, data)
        self.messages.append({"role": "tool", "tool_call_id": call_id,
                              "content": json.dumps({"ok": False, "error": error})})

    # ------------------------------------------------------------------ a reply in text
    def text_reply(self, content: str | None) -> LLMOutcome | None:
        parsed = _parse_content(content)
        if isinstance(parsed, ProposeChange):
            return self.out("draft", draft=_clean_draft(parsed))
        if isinstance(parsed, Respond):
            return _final_respond(self.out, parsed, self.messages)
        text = strip_markers(content or "").strip()
        if text and not is_preamble(text):
            unusable = answer_problem(text, self.messages)
            if unusable is not None:  # never shown: the turn falls back and says why
                return self.out("fallback", reason=_UNUSABLE[unusable], failure=unusable)
            return self.out("respond", respond=Respond(kind="answer", text=text[:2000]))
        self.reasks += 1
        self.refusals.append("announced work without a tool call" if text else "empty reply")
        self.on_notice("the model announced work without calling a tool; asked it to go on" if text
                       else "the model returned an empty reply; asked again",
                       {"problem": "preamble" if text else "empty_reply"})
        self.messages.append({"role": "user", "content": (
            "Go on: call the tools you need now, then propose_change or respond." if text
            else "Use the tools, then propose_change or respond.")})
        return None

    # ------------------------------------------------------------------ tool calls
    def tool_calls(self, calls: list[ToolCallMsg]) -> LLMOutcome | None:
        """Every call answered (a real API refuses a conversation with an unanswered call); the first
        final call that passes is the outcome."""
        final: LLMOutcome | None = None
        for tc in calls:
            try:
                args = json.loads(tc.arguments) if tc.arguments.strip() else {}
                if not isinstance(args, dict):
                    raise ValueError("arguments must be a JSON object")
            except (json.JSONDecodeError, ValueError) as exc:
                self.refuse(tc.id, f"invalid JSON for {tc.name}",
                            f"the model sent invalid JSON arguments for {tc.name}; asked it again",
                            {"problem": "invalid_json", "tool": tc.name}, f"arguments are not valid JSON: {exc}")
                continue
            if tc.name in ("propose_change", "respond"):
                outcome = self.final_call(tc, args, first=final is None)
                final = final or outcome
            elif tc.name not in TOOLS:
                self.unknown_tool(tc)
            else:
                self.read(tc, args)
        return final

    def final_call(self, tc: ToolCallMsg, args: dict[str, Any], *, first: bool) -> LLMOutcome | None:
        model = ProposeChange if tc.name == "propose_change" else Respond
        try:
            parsed: ProposeChange | Respond = model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            self.refuse(tc.id, f"invalid {tc.name}",
                        f"the model's {tc.name} did not match the schema ({problems}); asked again",
                        {"problem": "schema", "tool": tc.name}, problems)
            return None
        unknown = _unknown_paths(self.ctx, parsed) if isinstance(parsed, ProposeChange) else []
        if unknown:
            self.refuse(tc.id, "unknown path " + ", ".join(unknown[:3]),
                        "the model proposed a path the data model does not know (" + ", ".join(unknown[:3])
                        + "); refused and asked again", {"problem": "unknown_path", "paths": unknown[:5]},
                        "not submitted: no such parameter in this device's data model: " + "; ".join(unknown)
                        + ". Use only paths the read tools returned.")
            return None
        if not first:
            # Every tool call needs its tool reply, or the next request is a 400 from a real API (and a
            # redraft would silently fall back): the extra final call is answered, not used.
            self.refusals.append(f"second {tc.name} in one reply")
            self.on_notice(f"the model sent more than one final call in one reply; the extra {tc.name} was not "
                           "used", {"problem": "second_final", "tool": tc.name})
            self.messages.append({"role": "tool", "tool_call_id": tc.id, "content": json.dumps({
                "ok": False, "error": "ignored: one propose_change or respond per reply; the first one is being "
                                      "checked"})})
            return None
        if isinstance(parsed, ProposeChange):
            return self.out("draft", draft=_clean_draft(parsed), pending_call_id=tc.id)
        self.messages.append({"role": "tool", "tool_call_id": tc.id, "content": '{"ok": true}'})
        return _final_respond(self.out, parsed, self.messages)

    def unknown_tool(self, tc: ToolCallMsg) -> None:
        write = bool(WRITE_LIKE.search(tc.name))
        error = f"there is no tool {tc.name!r}; tools: {', '.join([*TOOLS, 'propose_change', 'respond'])}"
        if write:
            self.refuse(tc.id, "write attempt " + tc.name,
                        f"the model tried to call {tc.name!r}, which would write to the device; refused — changes "
                        "only reach a device as a proposal through the lifecycle",
                        {"problem": "write_attempt", "tool": tc.name},
                        error + "; nothing can be written directly — use propose_change")
        else:
            self.refuse(tc.id, "unknown tool " + tc.name, f"the model called an unknown tool {tc.name!r}; asked again",
                        {"problem": "unknown_tool", "tool": tc.name}, error)

    def read(self, tc: ToolCallMsg, args: dict[str, Any]) -> None:
        self.calls += 1
        result = call_tool(self.ctx, tc.name, args)
        self.on_tool(result)
        body, cut = cap_tool_output(result.for_model(self.ctx.pseudo))
        if cut:
            self.on_notice(f"{tc.name} returned about {cut} tokens more than a model is shown; cut, with a note",
                           {"problem": "tool_output_capped", "tool": tc.name, "tokens_omitted": cut})
        self.messages.append({"role": "tool", "tool_call_id": tc.id, "content": body})


_UNUSABLE = {"echo": "the model's reply repeated what it was shown instead of answering",
             "ungrounded": "the model's answer cited nothing the tools read"}


def _final_respond(out: Callable[..., LLMOutcome], r: Respond, messages: list[dict[str, Any]]) -> LLMOutcome:
    """A respond call as the agent will see it: no untrusted markers; an answer only when it cites
    what the tools read (``brain.model_text``), else the turn falls back and says why."""
    text = strip_markers(r.text).strip() or r.text
    problem = answer_problem(text, messages)
    if problem == "ungrounded" and r.kind != "answer":
        problem = None  # a question or an escalation states no fact: only an echo is refused
    if problem is not None:
        return out("fallback", reason=_UNUSABLE[problem], failure=problem)
    return out("respond", respond=r.model_copy(update={"text": text}))


def _clean_draft(d: ProposeChange) -> ProposeChange:
    """The model's own words in a draft (its intent and rationale reach the agent and the approver)
    without untrusted markers."""
    return d.model_copy(update={"intent": strip_markers(d.intent)[:300] or d.intent,
                                "rationale": strip_markers(d.rationale)[:2000]})


def is_preamble(text: str) -> bool:
    """A reply that announces what the model is about to do instead of answering."""
    return bool(_PREAMBLE.search(text)) and len(text) < 400


def approx_tokens(text: str) -> int:
    """About four characters a token (English and JSON alike; the endpoint's ``usage`` is exact)."""
    return (len(text) + 3) // 4


def cap_tool_output(body: str, limit: int = TOOL_OUTPUT_MAX_CHARS) -> tuple[str, int]:
    """The tool result as the model sees it, at most ``limit`` characters: a longer one is cut and
    wrapped with a note saying how much was left out (about how many tokens) and how to get less,
    still a JSON object. Returns (content, tokens omitted)."""
    if len(body) <= limit:
        return body, 0
    keep = max(0, limit - 300)
    while True:  # the partial text is escaped again inside the note's JSON: shrink until it fits
        omitted = approx_tokens(body[keep:])
        note = (f"truncated: showing the first {keep} of {len(body)} characters (about {omitted} tokens left out); "
                "read a narrower path or subtree for the rest")
        out = json.dumps({"ok": True, "truncated": True, "note": note, "partial": body[:keep]})
        if len(out) <= limit or keep == 0:
            return out, omitted
        keep = max(0, keep - (len(out) - limit) - 16)


def _unknown_paths(ctx: ToolContext, draft: ProposeChange) -> list[str]:
    """Paths in the model's draft that the parameter registry does not know for this device.

    Why here and not only in the self-check: a made-up path is the model's hallucination, not a
    policy question; refusing it inside the loop tells the model at once, in the same turn, and it
    never becomes a draft (the self-check still validates everything that does)."""
    from core.kernel.models import Change
    from core.validation import validate_changes

    out: list[str] = []
    for item in draft.changes:
        try:
            change = Change(path=item.path, value=item.value)
        except ValidationError:
            out.append(item.path)
            continue
        issues = validate_changes(ctx.device, [change])
        if any(i.rule in _UNKNOWN_RULES for i in issues):
            out.append(item.path)
    return out


def _parse_content(content: str | None) -> ProposeChange | Respond | None:
    """Some endpoints answer with JSON in the content instead of a tool call: accept the two
    final shapes there too."""
    if not content:
        return None
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.split("\n", 1)[1] if "\n" in text else text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    for model in (ProposeChange, Respond):
        try:
            return model.model_validate(obj)
        except ValidationError:
            continue
    return None
