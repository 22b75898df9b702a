"""Name lookup shared by activations, initializers, losses, metrics and optimizers."""


def lookup(kind, identifier, table, base):
    """An object for identifier: an instance of base as is, or a new one from its name."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in table:
        return table[identifier.lower()]()
    raise ValueError(f"unknown {kind} {identifier!r}; valid names: {', '.join(sorted(table))}")
