"""Payment providers: the protocol and the Stripe adapter (nothing else talks to Stripe)."""
