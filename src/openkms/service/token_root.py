"""The pkcs11 root provider's settings turned into the root (rootkey/pkcs11.py) and the keeper
of HSM key versions (rootkey/token_keys.py): the module, the token label and the PIN
(``pkcs11_pin_file``, else ``OPENKMS_PKCS11_PIN``; never a flag)."""

from __future__ import annotations

from openkms.config import ConfigError, Settings
from openkms.rootkey.pkcs11 import Pkcs11RootKey, Pkcs11Unavailable
from openkms.rootkey.token_keys import TokenKeys

__all__ = ["open_token_keys", "open_token_root"]


def _token(settings: Settings) -> tuple[str, str, str]:
    if settings.pkcs11_module is None or not settings.pkcs11_token_label:
        raise Pkcs11Unavailable("root_provider pkcs11 needs pkcs11_module and pkcs11_token_label")
    try:
        pin = settings.token_pin()
    except ConfigError as exc:
        raise Pkcs11Unavailable(str(exc)) from None
    return (
        str(settings.pkcs11_module),
        settings.pkcs11_token_label,
        pin.reveal() if pin is not None else "",
    )


def open_token_root(settings: Settings, *, create: bool) -> Pkcs11RootKey:
    """The root on the token ``settings`` name; made there first with ``create`` (init).

    Raises:
        Pkcs11Unavailable: a setting missing or unreadable, or a token that cannot be used (the
            message says which, never the PIN).
    """
    module, label, pin = _token(settings)
    root = Pkcs11RootKey.open(module, label, pin, create=create)
    if create:
        # The master key of HSM keys is made with the root, so that the workers of a node
        # find one rather than racing to make it.
        TokenKeys(module, label, pin).ensure_master()
    return root


def open_token_keys(settings: Settings) -> TokenKeys:
    """The keeper of HSM key versions on the deployment's token (opened on first use).

    Raises:
        Pkcs11Unavailable: a setting missing or unreadable.
    """
    return TokenKeys(*_token(settings))
