"""Placeholder: filled in by its owner. See adapters/__init__.py for the contract."""


def install() -> None:
    return None


def verify_moto_internals() -> None:
    return None
