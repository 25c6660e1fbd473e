"""``flask shoppable outbox list|replay``: look at the outbox and send messages again."""

from __future__ import annotations

import click
from sqlalchemy import select

from .. import db
from .models import OUTBOX_STATUSES, OutboxMessage
from .outbox import requeue

outbox_group = click.Group("outbox", help="The CRM outbox: list messages, send them again.")


@outbox_group.command("list")
@click.option("--status", type=click.Choice(OUTBOX_STATUSES), help="Only messages in this state.")
@click.option("--sink", help="Only messages for this sink.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def list_command(status: str | None, sink: str | None, limit: int) -> None:
    """List messages, newest first (never their payloads)."""
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if sink:
        stmt = stmt.where(OutboxMessage.sink == sink)
    rows = db.session().scalars(stmt).all()
    if not rows:
        click.echo("No messages.")
        return
    for m in rows:
        when = m.delivered_at if m.status == "delivered" else m.next_attempt_at
        stamp = when.isoformat(timespec="seconds") if when else "-"
        error = f"  {m.last_error[:120]}" if m.last_error and m.status != "delivered" else ""
        click.echo(
            f"{m.id:>6}  {m.status:9}  {m.sink:12}  {m.event:16}  {m.key:28}  "
            f"attempts {m.attempts:<3} {stamp}{error}"
        )


@outbox_group.command("replay")
@click.argument("message_id", required=False, type=int)
@click.option("--dead", is_flag=True, help="Every dead message (of --sink, if given).")
@click.option("--sink", help="With --dead: only this sink's.")
def replay_command(message_id: int | None, dead: bool, sink: str | None) -> None:
    """Send MESSAGE_ID (any state) or every dead message again, with the same key."""
    if (message_id is None) == (not dead):
        raise click.UsageError("give a message id or --dead")
    if sink and not dead:
        raise click.UsageError("--sink goes with --dead")
    session = db.session()
    if dead:
        conditions = [OutboxMessage.sink == sink] if sink else []
        count = requeue(session, *conditions)
    else:
        count = requeue(session, OutboxMessage.id == message_id, only_dead=False)
    session.commit()
    if message_id is not None and not count:
        raise click.ClickException(f"no outbox message {message_id}")
    click.echo(f"{count} message{'s' if count != 1 else ''} queued again.")
