"""The parent message, thread replies and mention notes as Block Kit, always inside Slack's limits."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from shipyard.runtime import format_duration
from shipyard.slack.context import RunContext
from shipyard.slack.model import RunState, clip, stage_label

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
MAX_FIELDS = 10
FIELD_TEXT = 2000
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 2000
BLOCK_ID = 255
TEXT_LIMIT = 40000
BLOCKS_TOTAL = 12000  # Slack answers msg_blocks_too_long at about 13k characters of block text
OVERFLOW = "… _(trimmed to fit Slack's limits: the full text is in the run log)_"

EMOJI = {
    "pending": ":white_circle:",
    "running": ":hourglass_flowing_sand:",
    "success": ":white_check_mark:",
    "failure": ":x:",
    "skipped": ":fast_forward:",
    "cancelled": ":no_entry_sign:",
    "timed-out": ":alarm_clock:",
}


def esc(text: str) -> str:
    """Escape plain text for mrkdwn (Slack's three control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\((https?://[^)\s]{1,2000})\)")
_SLACK_LINK = re.compile(r"<(https?://[^|<>\s]{1,2000})(?:\|([^<>\n]{1,300}))?>")
_LINKS = re.compile(f"{_MD_LINK.pattern}|{_SLACK_LINK.pattern}")
_MD_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def safe_url(url: str) -> str:
    """A URL for ``<url|label>``: the characters that would end it or start markup are percent-encoded."""
    for raw, enc in (("%", "%25"), ("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20"), ("\n", "%0A")):
        url = url.replace(raw, enc)
    return url.replace("&", "&amp;")


def mrkdwn(text: str) -> str:
    """Markdown details (``[text](url)``, ``**bold**``) to Slack mrkdwn, everything else escaped.

    Only web links stay live (Markdown ones and Slack's ``<https://...|label>``): any other ``<...>`` from data
    (``<!channel>``, ``<!here>``, ``<@U...>``, ``<!subteam^...>``) is shown as text and notifies nobody."""
    out: list[str] = []
    pos = 0
    for m in _LINKS.finditer(text):
        out.append(esc(text[pos:m.start()]))
        if m.group(2):
            out.append(link(m.group(2), m.group(1)))
        else:
            out.append(link(m.group(3), m.group(4) or m.group(3)))
        pos = m.end()
    out.append(esc(text[pos:]))
    return _MD_BOLD.sub(r"*\1*", "".join(out))


def link(url: str, label: str) -> str:
    return f"<{safe_url(url)}|{esc(label).replace('|', '/')}>" if url else esc(label)


@dataclass
class Mentions:
    teams: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    author_login: str = ""

    def render(self) -> str:
        parts = [f"<!subteam^{t}>" for t in self.teams] + [f"<@{u}>" for u in self.users]
        return " ".join(dict.fromkeys(parts))


def headline(ctx: RunContext, state: RunState) -> str:
    name = ctx.service or ctx.repository or "pipeline"
    where = f" to {ctx.environment}" if ctx.environment else ""
    status = state.status
    if status == "running":
        text = f"{name}: deploying{where}"
    elif status == "success":
        text = f"{name}: deployed{where}"
    elif status == "failure":
        stage = f" at {stage_label(state.failed_stage)}" if state.failed_stage else ""
        text = f"{name}: failed{stage}{(' (' + ctx.environment + ')') if ctx.environment else ''}"
    elif status == "cancelled":
        text = f"{name}: cancelled{(' (' + ctx.environment + ')') if ctx.environment else ''}"
    else:
        text = f"{name}: timed out{(' (' + ctx.environment + ')') if ctx.environment else ''}"
    if ctx.matrix_key:
        text += f" [{ctx.matrix_key}]"
    return f"{EMOJI[status]} {text}"


def _fields(ctx: RunContext, state: RunState, author: str) -> list[str]:
    fields: list[str] = []
    if ctx.repository:
        fields.append(f"*Repository*\n{link(ctx.repo_url, ctx.repository)}")
    if ctx.ref_name:
        fields.append(f"*{'Tag' if ctx.ref_type == 'tag' else 'Branch'}*\n{link(ctx.ref_url, ctx.ref_name)}")
    if ctx.sha:
        title = f" {esc(clip(ctx.commit_title, 200))}" if ctx.commit_title else ""
        fields.append(f"*Commit*\n{link(ctx.commit_url, ctx.short_sha)}{title}")
    if author:
        fields.append(f"*Author*\n{author}")
    if ctx.pr_url:
        fields.append(f"*Pull request*\n{link(ctx.pr_url, '#' + ctx.pr_number if ctx.pr_number else 'PR')}")
    if ctx.environment:
        fields.append(f"*Environment*\n{esc(ctx.environment)}")
    if state.image_tag:
        fields.append(f"*Image tag*\n`{esc(clip(state.image_tag, 300))}`")
    if state.image_digest:
        fields.append(f"*Digest*\n`{esc(clip(state.image_digest, 300))}`")
    if ctx.run_url:
        label = f"{ctx.workflow or 'run'} #{ctx.run_id}"
        if ctx.attempt not in ("", "1"):
            label += f" (attempt {ctx.attempt})"
        fields.append(f"*Run*\n{link(ctx.run_url, label)}")
    fields.append(f"*Duration*\n{format_duration(state.duration)}{'' if state.final else ' so far'}")
    return fields[:MAX_FIELDS]


def checklist_lines(state: RunState) -> list[str]:
    lines = []
    for entry in state.stages:
        parts = [f"{EMOJI.get(entry.status, ':grey_question:')} *{esc(stage_label(entry.name))}*"]
        if entry.status == "running":
            parts.append("running")
        elif entry.duration is not None:
            parts.append(format_duration(entry.duration))
        if entry.status in ("skipped", "cancelled", "pending"):
            parts.append(entry.status)
        first = entry.details.strip().splitlines()[0] if entry.details.strip() else ""
        if first:
            parts.append(mrkdwn(clip(first, 400)))
        lines.append(" · ".join(parts))
    return lines


def _sections_from_lines(lines: list[str], limit: int = SECTION_TEXT) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def parent_message(
    ctx: RunContext, state: RunState, *, author: str = "", now: float | None = None, note: str = ""
) -> tuple[list[dict[str, Any]], str]:
    """Blocks and fallback text of the parent message."""
    head = headline(ctx, state)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": esc(head), "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in _fields(ctx, state, author)]},
    ]
    lines = checklist_lines(state)
    if lines:
        blocks.extend(section(chunk) for chunk in _sections_from_lines(lines))
    if state.final in ("failure", "timed-out", "cancelled"):
        what = {"failure": "Failed", "timed-out": "Timed out", "cancelled": "Cancelled"}[state.final]
        at = f" at *{esc(stage_label(state.failed_stage))}*" if state.failed_stage else ""
        error = f": {esc(state.error)}" if state.error else ""
        job = f"\n{link(ctx.failing_job_url, 'Open the failing job')}" if ctx.failing_job_url else ""
        blocks.append(section(f"{EMOJI[state.final]} {what}{at}{error}{job}"))
    if note:
        blocks.append(section(note))
    stamp = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() if now is None else now))
    bits = ["Shipyard"]
    if ctx.matrix_key:
        bits.append(f"matrix: {esc(ctx.matrix_key)}")
    if ctx.job:
        bits.append(f"job: {esc(ctx.job)}")
    bits.append(f"updated {stamp}")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(bits)}]})
    text = f"{head.split(' ', 1)[1] if ' ' in head else head}"
    if ctx.repository and ctx.short_sha:
        text += f" ({ctx.repository}@{ctx.short_sha}{' ' + ctx.ref_name if ctx.ref_name else ''})"
    if state.final == "failure" and state.error:
        text += f": {state.error}"
    return fit(blocks, esc(text))  # the fallback text is mrkdwn and the notification's text: all of it is data


def stage_reply(state: RunState, name: str) -> str:
    entry = state.stage(name)
    if entry is None:
        return ""
    head = f"{EMOJI.get(entry.status, '')} *{esc(stage_label(entry.name))}* {entry.status}"
    if entry.duration is not None and entry.status != "running":
        head += f" · {format_duration(entry.duration)}"
    body = [head]
    if entry.details.strip():
        body.append(mrkdwn(entry.details.strip()))
    if entry.error.strip():
        fence = "```"
        body.append(fence + esc(entry.error.strip()).replace(fence, "'''") + fence)
    return clip("\n".join(body), TEXT_LIMIT - 1000, OVERFLOW)


def alert_text(ctx: RunContext, state: RunState, mentions: Mentions, *, recovered: bool) -> str:
    who = mentions.render()
    name = ctx.service or ctx.repository
    env = f" ({esc(ctx.environment)})" if ctx.environment else ""
    if recovered:
        msg = f":white_check_mark: {esc(name)}{env} is fixed: this run deployed after the previous one failed."
    else:
        at = f" at *{esc(stage_label(state.failed_stage))}*" if state.failed_stage else ""
        what = {"failure": "failed", "timed-out": "timed out", "cancelled": "was cancelled"}.get(state.status, "failed")
        msg = f":rotating_light: {esc(name)}{env} {what}{at}"
        if state.error:
            msg += f": {esc(clip(state.error, 1500))}"
        if ctx.failing_job_url:
            msg += f"\n{link(ctx.failing_job_url, 'Open the failing job')}"
    return clip(f"{who} {msg}" if who else msg, TEXT_LIMIT - 1000, OVERFLOW)


# ------------------------------------------------------------------ limits
def _text_len(block: dict[str, Any]) -> int:
    total = 0
    text = block.get("text")
    if isinstance(text, dict):
        total += len(str(text.get("text", "")))
    for f in block.get("fields") or []:
        total += len(str(f.get("text", "")))
    for e in block.get("elements") or []:
        if isinstance(e, dict):
            total += len(str(e.get("text", "")))
    return total


def fit(blocks: list[dict[str, Any]], text: str) -> tuple[list[dict[str, Any]], str]:
    """Trim to Slack's limits with a visible overflow marker. Never raises: the message must render."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        block = json.loads(json.dumps(block))
        kind = block.get("type")
        if kind == "header":
            block["text"]["text"] = clip(block["text"]["text"], HEADER_TEXT)
        elif kind == "section":
            if "text" in block:
                block["text"]["text"] = clip(block["text"]["text"], SECTION_TEXT, OVERFLOW)
            if "fields" in block:
                block["fields"] = [
                    {**f, "text": clip(f["text"], FIELD_TEXT, "…")} for f in block["fields"][:MAX_FIELDS]
                ]
        elif kind == "context":
            block["elements"] = [
                {**e, "text": clip(e["text"], CONTEXT_TEXT, "…")} for e in block["elements"][:CONTEXT_ELEMENTS]
            ]
        out.append(block)
    if len(out) > MAX_BLOCKS:
        tail = out[-1] if out and out[-1].get("type") == "context" else None
        keep = MAX_BLOCKS - 1 - (1 if tail else 0)
        dropped = len(out) - keep - (1 if tail else 0)
        out = [*out[:keep], section(f"… {dropped} more block(s) trimmed to fit Slack's 50-block limit")]
        if tail:
            out.append(tail)
    total = sum(_text_len(b) for b in out)
    while total > BLOCKS_TOTAL and len(out) > 2:
        # shrink the longest section until the whole message fits
        idx = max(range(len(out)), key=lambda i: _text_len(out[i]) if "text" in out[i] else -1)
        block = out[idx]
        current = block["text"]["text"]
        target = max(200, len(current) - (total - BLOCKS_TOTAL) - len(OVERFLOW))
        if target >= len(current):
            break
        block["text"]["text"] = clip(current, target, OVERFLOW)
        total = sum(_text_len(b) for b in out)
    return out, clip(text, TEXT_LIMIT - 1000, "…")


def validate(blocks: list[dict[str, Any]], text: str) -> list[str]:
    """Problems Slack would reject the message for (empty when it is fine)."""
    problems: list[str] = []
    if not text and not blocks:
        problems.append("no text and no blocks (no_text)")
    if len(text) > TEXT_LIMIT:
        problems.append(f"text is {len(text)} characters, over {TEXT_LIMIT} (msg_too_long)")
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks, over {MAX_BLOCKS} (invalid_blocks)")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header":
            if len(block["text"]["text"]) > HEADER_TEXT or block["text"].get("type") != "plain_text":
                problems.append(f"block {i}: header text must be plain_text of at most {HEADER_TEXT}")
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"block {i}: section needs text or fields")
            if "text" in block and not 1 <= len(block["text"]["text"]) <= SECTION_TEXT:
                problems.append(f"block {i}: section text must be 1-{SECTION_TEXT} characters")
            fields = block.get("fields") or []
            if len(fields) > MAX_FIELDS or any(len(f["text"]) > FIELD_TEXT for f in fields):
                problems.append(f"block {i}: at most {MAX_FIELDS} fields of {FIELD_TEXT} characters")
        elif kind == "context":
            if not 1 <= len(block.get("elements") or []) <= CONTEXT_ELEMENTS:
                problems.append(f"block {i}: context needs 1-{CONTEXT_ELEMENTS} elements")
        else:
            problems.append(f"block {i}: unexpected block type {kind!r}")
        if len(str(block.get("block_id", ""))) > BLOCK_ID:
            problems.append(f"block {i}: block_id over {BLOCK_ID}")
    total = sum(_text_len(b) for b in blocks)
    if total > BLOCKS_TOTAL:
        problems.append(f"blocks hold {total} characters, over {BLOCKS_TOTAL} (msg_blocks_too_long)")
    return problems
