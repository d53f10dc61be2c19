"""Slash commands: parsing, the command table, and the comment router that runs them.

A command is a line of an issue or pull request comment that starts with ``/name`` (up to three
spaces before it; four make an indented code block), outside fenced code blocks and block
quotes. Its arguments are split with shlex, or on whitespace when the quotes do not balance.
One ``CommandTable`` serves the App and the Action; handler modules each build their own table
and handlers/__init__.py composes them, like routers.

Who may run commands: people with write, maintain or admin permission on the repository. A
comment by anyone else gets no reply at all (a reply would invite spam and tell a stranger
what the bot can do); the reason is logged. Bots never reach this code (the dispatcher drops them).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.dispatch.router import Router
from bot.github.comments import marker, upsert_comment
from bot.llm.footer import NO_MODEL_NOTE, footer
from bot.markdown import code_flags
from bot.safety import clean_untrusted
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context

Where = Literal["issue", "pr"]
CommandHandler = Callable[["Context", "Command"], Awaitable[None]]

_COMMAND_LINE = re.compile(r"^ {0,3}/(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?=\s|$)(?P<rest>.*)$")


@dataclass(frozen=True)
class Command:
    """One command line: ``/ask "why so slow?" --deep`` -> name "ask", args ("why so slow?", "--deep")."""

    name: str  # lower case, without the slash
    args: tuple[str, ...]
    line: str  # the whole line as written (after cleaning)
    # the table the command was dispatched from (set by comment_router), so /help can list it
    table: CommandTable | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        """Everything after the name, unsplit: the question of ``/ask``."""
        match = _COMMAND_LINE.match(self.line)
        return match.group("rest").strip() if match else ""


def _split(rest: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(rest))
    except ValueError:  # unbalanced quotes: the words as typed
        return tuple(rest.split())


def parse_commands(body: str | None) -> list[Command]:
    """The commands of a comment, in order, each once. Hidden text (HTML comments, invisible
    characters) is removed first, so a command nobody can see on GitHub never runs."""
    commands: list[Command] = []
    for line, code in code_flags(clean_untrusted(body).split("\n")):
        if code:
            continue
        match = _COMMAND_LINE.match(line)
        if not match:
            continue
        command = Command(match.group("name").lower(), _split(match.group("rest")), line.strip())
        # "/HELP" and "/help" are one command: compare what runs, not how it was typed
        if all((c.name, c.args) != (command.name, command.args) for c in commands):
            commands.append(command)
    return commands


@dataclass(frozen=True)
class CommandSpec:
    name: str
    help: str
    usage: str
    on: frozenset[Where]
    handler: CommandHandler

    def applies(self, where: Where) -> bool:
        return where in self.on


class CommandTable:
    """Commands by name; tables compose: ``CommandTable(spec.commands, review.commands)``."""

    def __init__(self, *others: CommandTable) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for other in others:
            self.include(other)

    def register(
        self,
        name: str,
        help: str,
        on: Iterable[Where] = ("issue", "pr"),
        usage: str | None = None,
    ) -> Callable[[CommandHandler], CommandHandler]:
        """``@commands.register("ask", "answer a question", usage="/ask QUESTION")``."""

        def decorator(func: CommandHandler) -> CommandHandler:
            self.add(CommandSpec(name.lower(), help, usage or f"/{name.lower()}", frozenset(on), func))
            return func

        return decorator

    def add(self, spec: CommandSpec) -> None:
        known = self._specs.get(spec.name)
        if known is not None and known != spec:
            raise ValueError(f"/{spec.name} is registered twice ({known.handler.__qualname__}, {spec.handler.__qualname__})")
        self._specs[spec.name] = spec

    def include(self, other: CommandTable) -> None:
        for spec in other:
            self.add(spec)

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._specs

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


def where(ctx: Context) -> Where:
    return "pr" if ctx.event.is_pull_request else "issue"


async def reply(ctx: Context, kind: str, body: str) -> dict[str, Any]:
    """Answer the triggering comment with a comment of ``kind``. The marker names
    the triggering comment, so a redelivery edits the reply instead of adding another."""
    comment_id = (ctx.event.payload.get("comment") or {}).get("id", "none")
    number = ctx.event.issue_number
    if number is None:
        raise ValueError(f"{ctx.event.key} names no issue or pull request to reply on")
    return await upsert_comment(ctx.session, number, marker(kind, comment=comment_id), body)


async def reply_help(
    ctx: Context,
    table: CommandTable,
    unknown: Iterable[str] = (),
    misplaced: Iterable[CommandSpec] = (),
) -> dict[str, Any]:
    """The /help reply, also the answer to unknown or misplaced commands. Recorded as a job so
    the Action's summary links to it."""
    here = where(ctx)
    body = render(
        "comments/help.md.j2",
        commands=[spec for spec in table if spec.applies(here)],
        elsewhere=[spec for spec in table if not spec.applies(here)],
        where="pull request" if here == "pr" else "issue",
        unknown=sorted(set(unknown)),
        misplaced=list(misplaced),
        footer=footer([], note=NO_MODEL_NOTE),
    )
    async with ctx.job("help", f"#{ctx.event.issue_number}") as result:
        written = await reply(ctx, "help", body)
        result.link(written)
    return written


def comment_router(table: CommandTable) -> Router:
    """A Router that runs the commands of each new issue or pull request comment from ``table``."""
    router = Router()

    @router.register("issue_comment", action="created")
    async def run_commands(ctx: Context) -> None:
        comment = ctx.event.payload.get("comment") or {}
        commands = parse_commands(comment.get("body"))
        if not commands:
            return
        login = (comment.get("user") or {}).get("login") or ctx.event.sender
        names = ", ".join(f"/{c.name}" for c in commands)
        if not await ctx.can_write(login):
            ctx.log.info("ignored %s from %s: needs write, maintain or admin permission", names, login)
            return
        here = where(ctx)
        unknown = [c.name for c in commands if c.name not in table]
        misplaced = [s for c in commands if (s := table.get(c.name)) is not None and not s.applies(here)]
        runnable = [c for c in commands if (s := table.get(c.name)) is not None and s.applies(here)]
        if unknown or misplaced:
            ctx.log.info("unknown or misplaced commands from %s: %s", login, names)
            await reply_help(ctx, table, unknown, misplaced)
            runnable = [c for c in runnable if c.name != "help"]  # already answered
        errors: list[BaseException] = []
        for command in runnable:
            spec = table.get(command.name)
            assert spec is not None
            try:
                await spec.handler(ctx, Command(command.name, command.args, command.line, table))
            except Exception as exc:
                ctx.log.exception("/%s failed", command.name)
                errors.append(exc)
        if errors:
            raise errors[0]

    return router
