"""Runnable examples: ``python -m fastconv.examples.mnist`` (also ``fastconv train-mnist``)."""
