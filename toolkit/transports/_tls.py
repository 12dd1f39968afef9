"""Base TLS settings (`--tls-details`) applied to an `ssl.SSLContext`, shared by the
transports that open TLS connections (docker registries, docker daemons over TCP)."""

from __future__ import annotations

import ssl

from toolkit.types import TLSDetails

__all__ = ["apply_tls_details"]

_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def apply_tls_details(context: ssl.SSLContext, details: TLSDetails | None) -> None:
    """Restrict `context` to `details` (validated by `toolkit.config.tls_details`); None
    leaves it as it is. A minimum version replaces the default (TLS 1.2), also downwards;
    OpenSSL's security level still refuses what it considers broken (TLS 1.0 and
    1.1 at the default level of OpenSSL 3): the settings only ever narrow what is allowed."""
    if details is None:
        return
    if details.min_version is not None:
        context.minimum_version = _VERSIONS[details.min_version]
    if details.ciphers is not None:
        if details.ciphers:
            context.set_ciphers(":".join(details.ciphers))
        else:
            # No TLS 1.0-1.2 suite allowed: only TLS 1.3 (whose suites are fixed) remains.
            context.minimum_version = ssl.TLSVersion.TLSv1_3
    if details.group is not None:
        context.set_ecdh_curve(details.group)
