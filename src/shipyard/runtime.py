"""One runtime for every stage: inputs, outputs, summaries, masks, annotations, errors and retries.

Composite actions pass each input through ``env:`` as ``INPUT_<UPPER_SNAKE>`` (``fail-on-error`` becomes
``INPUT_FAIL_ON_ERROR``). The CLI fills the same variables from ``--fail-on-error true``, so one code path
serves both. Inside GitHub Actions (``GITHUB_ACTIONS=true``) the calls write workflow commands and the
``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_STEP_SUMMARY`` files; elsewhere they print readable text.

Everything takes its environment, output stream and clock from the :class:`Action` object, so tests inject
them instead of patching globals.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import os
import random
import re
import secrets
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, NoReturn, TypeVar

T = TypeVar("T")

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


class UserError(Exception):
    """Something the user must fix: a bad input, a missing permission, a refused credential.

    ``fix`` names what to do about it; it is printed after the message and in the step summary.
    """

    def __init__(
        self, message: str, fix: str | None = None, *, input_name: str | None = None, title: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.input_name = input_name
        self.title = title  # annotation title; default "<stage>: input or configuration problem"

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, timeouts). ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def env_name(input_name: str) -> str:
    """``fail-on-error`` -> ``INPUT_FAIL_ON_ERROR`` (the convention every action.yml here follows)."""
    return "INPUT_" + input_name.replace("-", "_").replace(" ", "_").upper()


def _escape_data(value: str) -> str:
    """A workflow command's data: ``%``, CR and LF percent-encoded (the runner decodes them), any other control
    character (ESC, BEL, NUL, U+2028...) escaped visibly, so a command stays one clean line."""
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return _COMMAND_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")  # not \t, \n or ESC (colours)
_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_COMMAND_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def is_finite_number(value: str) -> bool:
    """A plain decimal number (``30``, ``1.5``, ``2e3``): not NaN, not infinite, no ``_`` or non-ASCII digits."""
    return bool(_DECIMAL.fullmatch(value)) and math.isfinite(float(value))


def shown(value: str, limit: int = 60) -> str:
    """A refused input value as an error may repeat it: userinfo of a URL (``user:token@``) replaced by
    ``***``, control characters escaped (``\\n``, ``\\x1b``), cut to ``limit`` characters."""
    text = re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@", r"\1***@", value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def neutralise(text: str) -> str:
    """Text from data (remote answers, inputs, subprocess output) made safe to print on a runner.

    The runner acts on a line that starts with ``::`` once trimmed (``::warning::``, ``::stop-commands::``,
    ``::add-mask::``) and on the legacy ``##[command]`` form anywhere in a line. A line of data that would be
    a command gets a visible ``» `` in front, ``##[`` becomes ``## [``, and lone carriage returns and other
    control characters (which a log viewer may treat as line breaks) become spaces. Our own commands go
    through :meth:`Action._command` and are unaffected.
    """
    lines = []
    for line in text.split("\n"):
        line = _CONTROL.sub(" ", line.replace("##[", "## ["))
        if line.strip().startswith("::"):
            line = "» " + line
        lines.append(line)
    return "\n".join(lines)


def one_line(text: str) -> str:
    """A title for a command (``::group::``): control characters and line breaks become single spaces."""
    return _ONE_LINE.sub(" ", text)


def command_line(command: str, message: str) -> str:
    """``::<command>::<message>`` with the message escaped: for code that prints a command without an Action."""
    return f"::{command}::{_escape_data(message.replace('##[', '## ['))}"


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def md_escape(value: str) -> str:
    """Escape a value for a Markdown table cell."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


@dataclass
class Summary:
    """A Markdown step summary, built up by a stage and flushed once (also on failure)."""

    parts: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 3) -> Summary:
        self.parts.append(f"{'#' * level} {text}\n")
        return self

    def text(self, text: str) -> Summary:
        self.parts.append(text.rstrip("\n") + "\n")
        return self

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Summary:
        lines = [
            "| " + " | ".join(md_escape(str(h)) for h in headers) + " |",
            "|" + "|".join("---" for _ in headers) + "|",
        ]
        for row in rows:
            lines.append("| " + " | ".join(md_escape("" if c is None else str(c)) for c in row) + " |")
        self.parts.append("\n".join(lines) + "\n")
        return self

    def key_values(self, rows: Iterable[tuple[str, object]]) -> Summary:
        return self.table(["", ""], [(f"**{k}**", v) for k, v in rows])

    def details(self, title: str, body: str) -> Summary:
        self.parts.append(f"<details><summary>{title}</summary>\n\n{body.rstrip()}\n\n</details>\n")
        return self

    def render(self) -> str:
        return "\n".join(self.parts)


class Action:
    """The runtime a stage talks to. Construct with injected ``env``/``out`` in tests."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        out: IO[str] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.out: IO[str] = out if out is not None else sys.stdout
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.on_github = self.env.get("GITHUB_ACTIONS") == "true"
        self.summary = Summary()
        self.outputs: dict[str, str] = {}
        self._masked: set[str] = set()
        self._group_depth = 0

    # ------------------------------------------------------------------ inputs
    def _raw(self, name: str) -> str | None:
        value = self.env.get(env_name(name))
        if value is None:  # a `uses: docker://` step passes `with:` as INPUT_<NAME> with the hyphens kept
            value = self.env.get("INPUT_" + name.replace(" ", "_").upper())
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def input(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._raw(name)
        if value is None:
            if required:
                raise UserError(
                    f"Input '{name}' is required but was not set.",
                    f"add `{name}: ...` under `with:` (CLI: --{name} VALUE).",
                    input_name=name,
                )
            return default
        return value

    def require(self, name: str) -> str:
        value = self.input(name, required=True)
        assert value is not None
        return value

    def secret(self, name: str, *, required: bool = False) -> str | None:
        """Read an input that is a credential: masked before anything else can print it."""
        value = self.input(name, required=required)
        if value:
            self.mask(value)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        low = value.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise UserError(
            f"Input '{name}' must be true or false, got '{shown(value)}'.",
            f"set `{name}: true` or `{name}: false`.",
            input_name=name,
        )

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        bounds = (f"between {minimum} and {maximum}" if minimum is not None and maximum is not None else
                  f"at least {minimum}" if minimum is not None else f"at most {maximum}" if maximum is not None
                  else "")
        fix = f"set `{name}:` to a whole number{' ' + bounds if bounds else ''} (digits only), or leave it empty " \
              f"for the default {default}."
        if not re.fullmatch(r"[+-]?[0-9]{1,18}", value):
            raise UserError(f"Input '{name}' must be a whole number, got '{shown(value)}'.", fix, input_name=name)
        number = int(value)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise UserError(f"Input '{name}' must be {bounds}, got {number}.", fix, input_name=name)
        return number

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self._raw(name)
        if value is None:
            return default
        fix = f"set `{name}:` to a number of at least {minimum:g} (such as 30 or 1.5), or leave it empty for " \
              f"the default {default:g}."
        if not _DECIMAL.fullmatch(value):  # float() would also take "nan", "inf", "1_0" and full-width digits
            raise UserError(f"Input '{name}' must be a number, got '{shown(value)}'.", fix, input_name=name)
        number = float(value)
        if not math.isfinite(number):  # 1e999 overflows to inf
            raise UserError(f"Input '{name}' must be a finite number, got '{shown(value)}'.", fix, input_name=name)
        if number < minimum:
            raise UserError(f"Input '{name}' must be at least {minimum:g}, got {number:g}.", fix, input_name=name)
        return number

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str:
        value = self._raw(name)
        if value is None:
            if default is None:
                raise UserError(
                    f"Input '{name}' is required; allowed values: {', '.join(choices)}.",
                    f"set `{name}:` to one of {', '.join(choices)}.",
                    input_name=name,
                )
            return default
        if value not in choices:
            lowered = {c.lower(): c for c in choices}
            if value.lower() in lowered:
                return lowered[value.lower()]
            raise UserError(
                f"Input '{name}' has unknown value '{shown(value)}'; allowed values: {', '.join(choices)}.",
                f"set `{name}:` to one of {', '.join(choices)}.",
                input_name=name,
            )
        return value

    def items(self, name: str, *, required: bool = False, commas: bool = True) -> list[str]:
        """A list input: one item per line, or comma-separated (``commas=False`` for values that may hold
        commas). Blank lines are fine; an empty item between two commas (``a,,b``) is a malformed list."""
        value = self._raw(name)
        if value is None:
            if required:
                raise UserError(
                    f"Input '{name}' is required: give one item per line or a comma-separated list.",
                    f"add `{name}:` under `with:` with one item per line (CLI: --{name} 'a,b').",
                    input_name=name,
                )
            return []
        result: list[str] = []
        for line in value.splitlines():
            parts = [p.strip() for p in line.split(",")] if commas else [line.strip()]
            if len(parts) > 1 and "" in parts[:-1] and any(parts):
                raise UserError(
                    f"Input '{name}' is a malformed list: empty item in '{shown(line.strip())}'.",
                    "remove the doubled or leading comma, or give one item per line.",
                    input_name=name,
                )
            result.extend(p for p in parts if p)
        return result

    def mapping(self, name: str) -> dict[str, str]:
        """``key=value`` items (one per line or comma-separated)."""
        result: dict[str, str] = {}
        for item in self.items(name):
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                raise UserError(
                    f"Input '{name}' is a malformed list: '{shown(item)}' is not KEY=VALUE.",
                    "write one KEY=VALUE per line.",
                    input_name=name,
                )
            result[key.strip()] = val.strip()
        return result

    # ------------------------------------------------------------------ output
    def _emit(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def _emit_data(self, text: str) -> None:
        """Print text that may come from data: never a live workflow command (see :func:`neutralise`)."""
        self._emit(neutralise(self.scrub(text)))

    def _command(self, command: str, message: str, **props: object) -> None:
        rendered = ",".join(
            f"{k}={_escape_property(str(v).replace('##[', '## ['))}" for k, v in props.items() if v is not None
        )
        data = _escape_data(message.replace("##[", "## ["))
        self._emit(f"::{command}{(' ' + rendered) if rendered else ''}::{data}")

    def scrub(self, text: str) -> str:
        """Outside GitHub nobody masks for us: blank known secrets in anything we print."""
        for value in sorted(self._masked, key=len, reverse=True):
            text = text.replace(value, "***")
        return text

    def mask(self, value: str | None) -> None:
        if not value:
            return
        for line in value.splitlines():
            line = line.strip()
            if len(line) < 4 or line in self._masked:
                continue
            self._masked.add(line)
            if self.on_github:
                # only %, CR and LF encoded: the runner must mask the secret's own bytes
                self._emit(f"::add-mask::{line.replace('%', '%25')}")

    def info(self, message: str) -> None:
        self._emit_data(message)

    def debug(self, message: str) -> None:
        if self.on_github:
            self._command("debug", self.scrub(message))
        elif self.env.get("SHIPYARD_DEBUG"):
            self._emit_data("debug: " + message)

    def _annotate(
        self, kind: str, message: str, *, file: str | None, line: int | None, title: str | None
    ) -> None:
        message = self.scrub(message)
        if self.on_github:
            self._command(kind, message, file=file, line=line, title=title)
        else:
            where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
            self._emit_data(f"{kind}: {where}{message}")

    def error(
        self, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        self._annotate("error", message, file=file, line=line, title=title)

    def warning(
        self, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        self._annotate("warning", message, file=file, line=line, title=title)

    def notice(
        self, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        self._annotate("notice", message, file=file, line=line, title=title)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsed log group. Nested groups are not supported by GitHub, so inner ones just print."""
        title = one_line(self.scrub(title))
        if self._group_depth == 0 and self.on_github:
            self._command("group", title)
        else:
            self._emit_data(f"--- {title}" if self._group_depth == 0 else f"-- {title}")
        self._group_depth += 1
        try:
            yield
        finally:
            self._group_depth -= 1
            if self._group_depth == 0:
                if self.on_github:
                    self._emit("::endgroup::")
                else:
                    self._emit_data(f"--- end of {title}")

    def set_output(self, name: str, value: object) -> None:
        text = _as_text(value)
        self.outputs[name] = text
        path = self.env.get("GITHUB_OUTPUT")
        if path:
            _append_kv(path, name, text)
        elif not self.on_github:
            self._emit_data(f"output {name}={text}")

    def set_env(self, name: str, value: object) -> None:
        text = _as_text(value)
        path = self.env.get("GITHUB_ENV")
        if path:
            _append_kv(path, name, text)
        else:
            self._emit_data(f"env {name}={text}")

    def write_summary(self) -> None:
        body = self.summary.render()
        if not body.strip():
            return
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(self.scrub(body) + "\n")
        else:
            self._emit_data("\n" + body)
        self.summary = Summary()

    # ----------------------------------------------------------------- context
    @property
    def dry_run(self) -> bool:
        return self.boolean("dry-run", False)

    def github(self, name: str, default: str = "") -> str:
        """A GITHUB_* default variable (``github("sha")`` reads ``GITHUB_SHA``)."""
        return self.env.get("GITHUB_" + name.upper(), default)

    def run_url(self) -> str:
        return workflow_run_url(
            self.env.get("GITHUB_SERVER_URL", "https://github.com"),
            self.github("repository"),
            self.github("run_id"),
            self.github("run_attempt"),
        )

    def fail(self, message: str, fix: str | None = None) -> NoReturn:
        raise UserError(message, fix)

    # ------------------------------------------------------------------- retry
    def retry(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        attempts: int = 5,
        max_elapsed: float = 120.0,
        base: float = 0.5,
        cap: float = 20.0,
        retry_on: Callable[[BaseException], float | bool | None] | None = None,
    ) -> T:
        return retry(
            what,
            fn,
            attempts=attempts,
            max_elapsed=max_elapsed,
            base=base,
            cap=cap,
            retry_on=retry_on,
            log=self.warning,
            sleep=self.sleep,
            clock=self.clock,
            rng=self.rng,
        )


def workflow_run_url(server: str, repository: str, run_id: str, attempt: str = "") -> str:
    """The run's page (GitHub Enterprise aware through ``server``), pointing at the attempt after the first."""
    if not repository or not run_id:
        return ""
    url = f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
    return f"{url}/attempts/{attempt}" if attempt not in ("", "1") else url


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _append_kv(path: str, name: str, value: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            while delimiter in value:
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            fh.write(f"{name}={value}\n")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: an integer/decimal, an HTTP date, or an epoch time."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        return max(0.0, when - (time.time() if now is None else now))
    if number > 1_000_000_000:  # an epoch timestamp (Postman's X-RateLimit-Reset style)
        return max(0.0, number - (time.time() if now is None else now))
    return max(0.0, number)


def retry(
    what: str,
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    max_elapsed: float = 120.0,
    base: float = 0.5,
    cap: float = 20.0,
    retry_on: Callable[[BaseException], float | bool | None] | None = None,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` until it succeeds, with full-jitter exponential backoff.

    ``retry_on(exc)`` decides: ``False``/``None`` re-raises at once (a configuration error), ``True`` retries
    with backoff, a number retries after at least that many seconds (a server's Retry-After). Without
    ``retry_on``, :class:`TransientError` is retried (honouring its ``retry_after``) and anything else
    is raised. Bounded by ``attempts`` and by ``max_elapsed`` seconds in total.
    """
    rng = rng or random.Random()  # noqa: S311
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            verdict: float | bool | None
            if retry_on is not None:
                verdict = retry_on(exc)
            elif isinstance(exc, TransientError):
                verdict = exc.retry_after if exc.retry_after is not None else True
            else:
                verdict = None
            if verdict is None or verdict is False:
                raise
            backoff = rng.uniform(0, min(cap, base * (2 ** (attempt - 1))))
            delay = backoff
            if verdict is not True and isinstance(verdict, (int, float)):
                delay = float(verdict) + rng.uniform(0, min(1.0, base))
            elapsed = clock() - start
            if attempt >= attempts or elapsed + delay > max_elapsed:
                raise
            if log:
                log(f"{what}: attempt {attempt}/{attempts} failed ({exc}); retrying in {delay:.1f}s")
            sleep(delay)


def run_stage(
    stage: Callable[[Action], None], action: Action | None = None, *, name: str = "shipyard"
) -> int:
    """Run one stage with the shared error handling; returns the process exit code.

    A :class:`UserError` prints one ``::error::`` with the fix, explains itself in the step summary and
    exits 1. Anything else is a bug: one ``::error::`` pointing at the traceback, which is printed in a
    collapsed group, and exit 1.
    """
    action = action or Action()
    code = 0
    try:
        stage(action)
    except UserError as exc:
        action.error(str(exc), title=f"{name}: {exc.title or 'input or configuration problem'}")
        _report_error_output(action, str(exc))
        action.summary.heading(f"{name} failed", 3).text(f":x: {exc.message}")
        if exc.fix:
            action.summary.text(f"**Fix:** {exc.fix}")
        code = 1
    except KeyboardInterrupt:
        action.error(f"{name} was interrupted.")
        code = 130
    except Exception as exc:
        action.error(
            f"{name} hit an unexpected error ({type(exc).__name__}: {exc}). This is a bug in shipyard: "
            "the traceback is in the log group 'Traceback'; please report it.",
            title=f"{name}: internal error",
        )
        with action.group("Traceback"):
            action.info(traceback.format_exc().rstrip())
        _report_error_output(action, f"internal error: {type(exc).__name__}: {exc}")
        action.summary.heading(f"{name} failed", 3).text(f":boom: internal error: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        try:
            action.write_summary()
        except OSError as exc:  # a full disk must not hide the real result
            action.warning(f"could not write the step summary: {exc}")
    return code


def _report_error_output(action: Action, message: str) -> None:
    """A failed stage still hands its error to later steps (the Slack notice shows it) as output ``error``."""
    if action.env.get("GITHUB_OUTPUT"):
        try:
            action.set_output("error", action.scrub(message))
        except OSError:
            pass


def redact_url(url: str) -> str:
    """Drop any userinfo from a URL before it reaches a log line."""
    if "://" not in url or "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    host_part, _, path = rest.partition("/")
    return f"{scheme}://***@{host_part.rsplit('@', 1)[1]}" + (f"/{path}" if path else "")


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
