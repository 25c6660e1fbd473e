"""``flask shoppable create-merchant EMAIL``: a merchant account for the admin pages."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import db
from . import auth
from .models import MerchantUser


@click.command("create-merchant")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for twice when not given (prefer the prompt: a flag stays in shell history).",
)
@click.option(
    "--reset", is_flag=True, help="Set a new password for an existing account (ends its sessions)."
)
@with_appcontext
def create_merchant_command(email: str, password: str, reset: bool) -> None:
    """Create a merchant account that signs in at <prefix>/admin (or reset its password)."""
    session = db.session()
    try:
        if reset:
            user = session.scalar(
                select(MerchantUser).where(MerchantUser.email == auth.normalize_email(email))
            )
            if user is None:
                raise click.ClickException(f"no merchant account for {email}")
            auth.set_password(session, user, password)
            click.echo(f"Password of {user.email} changed; its sessions are signed out.")
            return
        user = auth.create_merchant(session, email, password)
    except auth.AuthError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created merchant {user.email}; sign in at the admin's /sign-in page.")
