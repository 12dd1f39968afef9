"""The former home of the Docker Engine API client, now `_engine` (private: the
`docker-daemon:` transport is its only user). Kept so `toolkit.transports.docker_daemon.client`
imports keep working."""

from __future__ import annotations

from toolkit.transports.docker_daemon._engine import (
    FALLBACK_API_VERSION,
    MAX_API_VERSION,
    DaemonEndpoint,
    DaemonError,
    DaemonUnavailableError,
    EngineClient,
    ImageLoadUpload,
    SaveStream,
    parse_daemon_host,
)

__all__ = [
    "MAX_API_VERSION",
    "FALLBACK_API_VERSION",
    "DaemonEndpoint",
    "DaemonError",
    "DaemonUnavailableError",
    "EngineClient",
    "ImageLoadUpload",
    "SaveStream",
    "parse_daemon_host",
]
