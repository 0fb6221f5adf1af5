"""A generated dataset of short customer-support tickets in five categories.

Each ticket is one or two sentences a customer might write, built from phrasings per category
with products, amounts, days and order numbers filled in; a seeded generator gives the same rows
every time, so ingesting twice finds the version already stored.

    python examples/support_tickets.py           # print a few rows
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.data.schemas import DatasetVersionOut

CATEGORIES = ("billing", "login", "shipping", "refund", "bug")

_PHRASES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged twice for my {plan} subscription this month.",
        "My invoice shows {amount} but my plan costs less than that.",
        "Why did my card get billed on {day} when I cancelled last week?",
        "Can you send me a VAT invoice for order {order}?",
        "The {plan} plan price went up without any notice.",
        "Please update the billing address on my account, the invoice is wrong.",
        "There is a charge of {amount} on my statement that I don't recognise.",
        "How do I switch from monthly to yearly billing?",
        "My company needs the invoices addressed to our finance team, not me.",
        "I was billed for {seats} seats but we only use two.",
    ),
    "login": (
        "I can't log in, it says my password is incorrect but I just reset it.",
        "The two-factor code never arrives on my phone.",
        "My account is locked after too many attempts, please unlock it.",
        "I don't get the password reset email, I checked spam too.",
        "Single sign-on with our company account stopped working on {day}.",
        "It keeps logging me out every few minutes on the {device}.",
        "I changed my email address and now I can't sign in.",
        "The login page just spins forever on my {device}.",
        "How do I recover my account if I lost my authenticator app?",
        "Someone else seems to have access to my account, I can't get in.",
    ),
    "shipping": (
        "My order {order} still hasn't arrived, it has been {days} days.",
        "The tracking number for order {order} doesn't show any updates.",
        "Can I change the delivery address for order {order}?",
        "The courier says delivered but there is no parcel at my door.",
        "Do you ship the {product} to Norway?",
        "The package arrived but the box was crushed and the {product} is dented.",
        "How long does express delivery take to reach me?",
        "My parcel is stuck in customs since {day}.",
        "Only half of my order {order} was delivered.",
        "Please ship order {order} to my office instead of my home.",
    ),
    "refund": (
        "I returned the {product} {days} days ago and still have no refund.",
        "I'd like a refund for order {order}, it's not what I expected.",
        "How long does a refund take to show on my card?",
        "You refunded {amount} but I paid more than that.",
        "Can I get my money back if I cancel within the trial?",
        "The {product} broke after a week, I want a refund not a replacement.",
        "I was promised a refund on {day} and nothing has happened.",
        "Please refund the duplicate payment for order {order}.",
        "What is your return policy for opened items?",
        "I sent the {product} back, when will the refund be processed?",
    ),
    "bug": (
        "The app crashes every time I open the settings page on my {device}.",
        "Export to CSV produces an empty file.",
        "Since the last update the dashboard shows the wrong totals.",
        "Clicking save does nothing, the button seems broken.",
        "Search returns no results even for items I know exist.",
        "Dark mode makes the text invisible on the reports page.",
        "The {device} app freezes when I upload a photo.",
        "Notifications show up twice since {day}.",
        "I get an error 500 when I open my order history.",
        "The date picker shows the wrong month in the calendar view.",
    ),
}
_OPENERS = ("", "", "", "Hi, ", "Hello, ", "Hey team, ", "Urgent: ", "Quick question: ")
_CLOSERS = ("", "", "", " Thanks.", " Please help.", " Thank you!", " This is frustrating.")
_FILL = {
    "plan": ("Pro", "Team", "Basic", "Premium"),
    "amount": ("$19.99", "$49.00", "$120", "EUR 35", "$9.50"),
    "day": ("Monday", "Tuesday", "the 3rd", "Friday", "last weekend"),
    "order": ("#48213", "#50077", "#39120", "#61544", "#70231"),
    "seats": ("5", "10", "12", "25"),
    "days": ("5", "10", "14", "three", "twenty"),
    "device": ("iPhone", "Android phone", "laptop", "tablet", "work PC"),
    "product": ("headphones", "desk lamp", "keyboard", "coffee grinder", "backpack"),
}


def generate_tickets(rows: int = 400, *, seed: int = 7) -> pl.DataFrame:
    """``rows`` tickets (``ticket_id``, ``text``, ``category``), categories evenly mixed."""
    rng = random.Random(seed)  # noqa: S311 - made-up rows, the same on every run
    ids, texts, categories = [], [], []
    for i in range(rows):
        category = CATEGORIES[i % len(CATEGORIES)]
        phrase = rng.choice(_PHRASES[category])
        filled = phrase.format(**{k: rng.choice(v) for k, v in _FILL.items()})
        opener = rng.choice(_OPENERS)
        if opener:
            filled = filled[0].lower() + filled[1:] if filled[1:2].islower() else filled
        ids.append(i + 1)
        texts.append(f"{opener}{filled}{rng.choice(_CLOSERS)}")
        categories.append(category)
    order = list(range(rows))
    rng.shuffle(order)
    frame = pl.DataFrame({"ticket_id": ids, "text": texts, "category": categories})
    return frame[order]


def ingest_tickets(
    client: Client, *, project: str = "default", name: str = "support-tickets", rows: int = 400
) -> DatasetVersionOut:
    """Ingest the generated tickets as a version of ``name`` (the stored one if unchanged)."""
    out = client.data.ingest(
        generate_tickets(rows),
        name,
        project=project,
        description="Generated support tickets: text and category (billing, login, ...)",
    )
    return out.version


if __name__ == "__main__":
    print(generate_tickets(10))
