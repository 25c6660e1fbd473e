"""Checkout: checkout sessions, stock held for their life, success and cancel pages."""
