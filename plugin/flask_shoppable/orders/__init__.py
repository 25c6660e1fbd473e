"""Orders, customers, refunds, disputes, and the webhook event log."""
