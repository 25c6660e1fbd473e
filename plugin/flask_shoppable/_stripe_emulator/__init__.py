"""The local Stripe emulator's insides; the public face is :mod:`flask_shoppable.testing`."""
