"""What the fastconv command and the programs it runs (fastconv.examples) share: the error a
user can fix, and the option types. Below both, so that neither imports the other back."""
import argparse


class CommandError(Exception):
    """An error the user can fix; the command prints its message as one line."""


def _int_at_least(low, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    parse.__name__ = what         # argparse names the type in some messages
    return parse


positive_int = _int_at_least(1, "a positive integer")
nonnegative_int = _int_at_least(0, "an integer >= 0")
