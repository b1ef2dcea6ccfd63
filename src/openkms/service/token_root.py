"""The pkcs11 root provider's settings turned into the root (rootkey/pkcs11.py): the module,
the token label and the PIN (``pkcs11_pin_file``, else ``OPENKMS_PKCS11_PIN``; never a flag)."""

from __future__ import annotations

from openkms.config import ConfigError, Settings
from openkms.rootkey.pkcs11 import Pkcs11RootKey, Pkcs11Unavailable

__all__ = ["open_token_root"]


def open_token_root(settings: Settings, *, create: bool) -> Pkcs11RootKey:
    """The root on the token ``settings`` name; made there first with ``create`` (init).

    Raises:
        Pkcs11Unavailable: a setting missing or unreadable, or a token that cannot be used (the
            message says which, never the PIN).
    """
    if settings.pkcs11_module is None or not settings.pkcs11_token_label:
        raise Pkcs11Unavailable("root_provider pkcs11 needs pkcs11_module and pkcs11_token_label")
    try:
        pin = settings.token_pin()
    except ConfigError as exc:
        raise Pkcs11Unavailable(str(exc)) from None
    return Pkcs11RootKey.open(
        str(settings.pkcs11_module),
        settings.pkcs11_token_label,
        pin.reveal() if pin is not None else "",
        create=create,
    )
