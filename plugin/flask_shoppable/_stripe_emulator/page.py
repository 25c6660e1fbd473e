"""The hosted checkout page (``/pay/<session id>``) and the emulator's overview page (``/``).

Plain HTML forms, no JavaScript, so a demo shopper, ``requests`` and a browser test all pay
the same way. Everything shown is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from ..money import CURRENCY_EXPONENTS, to_decimal_string

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1a1f36}
main{max-width:880px;margin:2rem auto;padding:0 1rem;display:grid;gap:2rem;
grid-template-columns:repeat(auto-fit,minmax(300px,1fr));align-items:start}
.banner{background:#ffd666;color:#3d2c00;padding:.5rem 1rem;text-align:center;font-weight:600}
section{background:#fff;border-radius:8px;padding:1.5rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.25rem;margin:0 0 1rem}h2{font-size:1rem;margin:1rem 0 .5rem}
table{width:100%;border-collapse:collapse}td{padding:.25rem 0}td.n{text-align:right}
tr.total td{border-top:1px solid #ddd;font-weight:700}
label{display:block;margin:.5rem 0 .2rem;font-size:.9rem}
input,select{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #ccd;border-radius:4px;
font:inherit}
fieldset{border:1px solid #ccd;border-radius:4px;margin:1rem 0 0;padding:.25rem .75rem .5rem}
label.option{display:flex;gap:.5rem;align-items:center}label.option input{width:auto;margin:0}
button{width:100%;margin-top:1rem;padding:.75rem;border:0;border-radius:4px;background:#635bff;
color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.alt{background:#fff;color:#635bff;border:1px solid #635bff}
.error{background:#fde8e8;color:#9b1c1c;padding:.75rem;border-radius:4px}
.hint{font-size:.85rem;color:#555}a{color:#635bff}
"""

BANNER = "Stripe emulator: test mode, no real payment is made"


def money(amount: int, currency: str) -> str:
    code = currency.upper()
    if code in CURRENCY_EXPONENTS:
        return f"{to_decimal_string(amount, code)} {code}"
    return f"{amount} {code}"


def _page(title: str, body: Markup | str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><div class=banner role=note>{escape(BANNER)}</div>{body}</body></html>"
    )


def _summary(session: Mapping[str, Any], lines: list[dict[str, Any]], shop: str) -> Markup:
    currency = session["currency"]
    rows = Markup("").join(
        Markup("<tr><td>{} \u00d7 {}</td><td class=n>{}</td></tr>").format(
            line["quantity"], line["description"], money(line["amount_subtotal"], currency)
        )
        for line in lines
    )
    totals = session["total_details"]
    extra = Markup("")
    if totals["amount_discount"]:
        extra += Markup("<tr><td>Discount</td><td class=n>\u2212{}</td></tr>").format(
            money(totals["amount_discount"], currency)
        )
    if session["shipping_options"]:
        extra += Markup("<tr><td>Shipping</td><td class=n>{}</td></tr>").format(
            money(totals["amount_shipping"], currency)
        )
    if totals["amount_tax"]:
        extra += Markup("<tr><td>Tax</td><td class=n>{}</td></tr>").format(
            money(totals["amount_tax"], currency)
        )
    return Markup(
        "<section aria-labelledby=summary><h1 id=summary>Pay {}</h1><table>{}{}"
        "<tr class=total><td>Total</td><td class=n data-total>{}</td></tr></table></section>"
    ).format(shop, rows, extra, money(session["amount_total"], currency))


def checkout_page(
    session: Mapping[str, Any],
    lines: list[dict[str, Any]],
    rates: list[dict[str, Any]],
    *,
    shop: str = "the shop",
    error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    """The payment form of an open session (with the last error, and what was typed)."""
    form = form or {}
    sid = session["id"]

    def value(name: str, default: str = "") -> str:
        return form.get(name, default)

    collection = session.get("shipping_address_collection")
    countries = collection["allowed_countries"] if collection else ["US", "GB", "FR", "DE"]
    chosen_country = value("country", countries[0])
    country_options = Markup("").join(
        Markup("<option value={0}{1}>{0}</option>").format(
            c, Markup(" selected") if c == chosen_country else ""
        )
        for c in countries
    )
    shipping = Markup("")
    if rates:
        chosen = value("shipping_rate", rates[0]["id"])
        shipping = Markup("<fieldset><legend>Shipping</legend>{}</fieldset>").format(
            Markup("").join(
                Markup(
                    "<label class=option><input type=radio name=shipping_rate value={}{}>"
                    " {} ({})</label>"
                ).format(
                    r["id"],
                    Markup(" checked") if r["id"] == chosen else "",
                    r["display_name"],
                    money(r["fixed_amount"]["amount"], r["fixed_amount"]["currency"]),
                )
                for r in rates
            )
        )
    error_html = (
        Markup("<p class=error role=alert id=error>{}</p>").format(error) if error else Markup("")
    )
    cancel = (
        Markup(
            '<p><a href="/pay/{}/cancel" id=cancel>← Cancel and return to the shop</a></p>'
        ).format(sid)
        if session.get("cancel_url")
        else Markup("")
    )
    body = Markup(
        "<main>{summary}<section aria-labelledby=details><h1 id=details>Your details</h1>{error}"
        '<form method=post action="/pay/{sid}" id=payment-form>'
        "<label for=email>Email</label>"
        '<input id=email name=email type=email required autocomplete=email value="{email}">'
        "<label for=name>Name</label>"
        '<input id=name name=name required autocomplete=name value="{name}">'
        "<label for=line1>Address</label>"
        '<input id=line1 name=line1 required autocomplete=address-line1 value="{line1}">'
        "<label for=city>City</label>"
        '<input id=city name=city required autocomplete=address-level2 value="{city}">'
        "<label for=postal_code>Postal code</label>"
        '<input id=postal_code name=postal_code required autocomplete=postal-code value="{postal}">'
        "<label for=country>Country</label><select id=country name=country>{countries}</select>"
        "{shipping}"
        "<h2>Card</h2><label for=card>Card number</label>"
        "<input id=card name=card inputmode=numeric autocomplete=cc-number "
        'placeholder="4242 4242 4242 4242" value="{card}">'
        "<p class=hint>Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined."
        "</p>"
        "<button type=submit name=method value=card id=pay>Pay {total}</button>"
        "<button type=submit name=method value=bank_transfer class=alt id=pay-later>"
        "Pay by bank transfer (test): settles later</button>"
        "</form>{cancel}</section></main>"
    ).format(
        summary=_summary(session, lines, shop),
        error=error_html,
        sid=sid,
        email=value("email", session.get("customer_email") or ""),
        name=value("name"),
        line1=value("line1"),
        city=value("city"),
        postal=value("postal_code"),
        countries=country_options,
        shipping=shipping,
        card=value("card"),
        total=money(session["amount_total"], session["currency"]),
        cancel=cancel,
    )
    return _page(f"Pay {shop}", body)


def closed_page(session: Mapping[str, Any]) -> str:
    """A session that can no longer be paid: expired, or already complete."""
    if session["status"] == "complete":
        message = Markup("This payment is complete.")
        if session.get("success_url"):
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
            message += Markup(' <a href="{}">Return to the shop</a>').format(target)
    else:
        message = Markup("This checkout session has expired. Start again from the shop.")
        if session.get("cancel_url"):
            message += Markup(' <a href="{}">Return to the shop</a>').format(session["cancel_url"])
    body = Markup("<main><section><h1>Checkout</h1><p id=closed>{}</p></section></main>").format(
        message
    )
    return _page("Checkout", body)


def overview_page(sessions: list[dict[str, Any]], deliveries: list[Any]) -> str:
    """What the emulator holds, with buttons a demo user needs: settle, refund, dispute."""
    rows = Markup("").join(
        Markup(
            "<tr><td><a href='/pay/{id}'>{short}</a></td><td>{status}</td><td>{payment}</td>"
            "<td class=n>{total}</td><td>{actions}</td></tr>"
        ).format(
            id=s["id"],
            short=s["id"][:20] + "…",
            status=s["status"],
            payment=s["payment_status"],
            total=money(s["amount_total"], s["currency"]),
            actions=_actions(s),
        )
        for s in sessions
    )
    log = Markup("").join(
        Markup("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
            d.event_type,
            d.url,
            d.state,
            ", ".join(str(a.status or a.error) for a in d.attempts) or "…",
        )
        for d in deliveries[-50:][::-1]
    )
    body = Markup(
        "<main style='display:block'><section><h1>Checkout sessions</h1><table>"
        "<tr><th>Session</th><th>Status</th><th>Payment</th><th>Total</th><th></th></tr>{}"
        "</table></section><section><h1>Webhook deliveries (latest 50)</h1><table>"
        "<tr><th>Event</th><th>To</th><th>State</th><th>Attempts</th></tr>{}</table>"
        "</section></main>"
    ).format(rows, log)
    return _page("Stripe emulator", body)


def _actions(session: Mapping[str, Any]) -> Markup:
    def button(action: str, label: str) -> Markup:
        return Markup(
            "<form method=post action='/emulator/{}/{}' style='display:inline'>"
            "<button class=alt style='width:auto;margin:0 .25rem'>{}</button></form>"
        ).format(session["id"], action, label)

    if session["status"] == "open":
        return button("expire", "Expire")
    if session["payment_status"] == "unpaid" and session["status"] == "complete":
        return button("settle", "Transfer arrives") + button("fail", "Transfer fails")
    if session["payment_status"] == "paid":
        return button("refund", "Refund all") + button("dispute", "Dispute")
    return Markup("")
