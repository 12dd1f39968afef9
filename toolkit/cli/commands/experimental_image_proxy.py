"""`skopo experimental-image-proxy --sockfd N`: skopeo's image proxy (hidden, as in skopeo).

The protocol is `toolkit.ops.proxy`; this command only builds the socket, the system
context (from the image flags, skopeo's un-prefixed IMG group plus `--authfile`) and the
trust policy (global `--policy` / `--insecure-policy`), both when the client calls
`Initialize`, as skopeo does.
"""

from __future__ import annotations

import typer

from toolkit.cli.common import base_context, policy_context
from toolkit.cli.context import global_options
from toolkit.cli.flags import Flag, FlagValues, command_with_flags, image_flags, system_context
from toolkit.ops.proxy import ProxyHandler, open_socket, serve
from toolkit.types import SystemContext

#: For `man skopo-experimental-image-proxy` (toolkit/cli/manpages.py).
EXAMPLES = [
    "Serve on the socket a client passed as file descriptor 3:\n"
    "$ skopo experimental-image-proxy --sockfd 3",
]
SEE_ALSO = ["skopo-transports(5)", "skopo-policy.json(5)", "skopo-inspect(1)"]
#: The page exists although the command is hidden (toolkit/cli/manpages.py).
DOCUMENT_HIDDEN = True
SECTIONS = [
    ("Protocol", """\
The client creates a socket pair (`AF_UNIX`, `SOCK_SEQPACKET`) and passes one end to the
proxy (`--sockfd`, default 0: standard input). Each packet is one JSON request,
`{"method": "NAME", "args": [...]}`, of at most 32 KiB; each reply is one packet,
`{"success": BOOL, "value": ANY, "pipeid": N, "error_code": "", "error": ""}`, where
`error_code` is `EPIPE`, `retryable` or `other` on failure. Data come through pipes
whose read ends are passed with the reply (SCM_RIGHTS): read a pipe while calling
`FinishPipe` with its `pipeid`, which reports errors found while writing it. The protocol
version is 0.2.8, skopeo main's.

- `Initialize` -> the protocol version; call it first, once.
- `OpenImage IMAGE-NAME` -> an image id; `OpenImageOptional` returns 0 when the image does
  not exist. The trust policy is checked here: on the image or, for a list, on the list or
  on the instance for this platform (`--override-os`, `--override-arch`, `--override-variant`).
- `CloseImage ID`.
- `GetManifest ID` -> the manifest digest, and a pipe with the manifest as OCI (docker
  schema2 images are converted; lists are resolved to this platform's instance).
- `GetFullConfig ID` -> a pipe with the OCI configuration; `GetConfig ID` only its
  `config` member (deprecated).
- `GetBlob ID DIGEST SIZE` -> the blob size, and a pipe with the blob, verified
  (`FinishPipe` fails on a wrong size or digest).
- `GetRawBlob ID DIGEST` -> the blob size and two fds: the blob, and errors as JSON
  `{"code", "message"}` (no `FinishPipe`).
- `GetLayerInfoPiped ID` -> a pipe with `[{"digest", "size", "media_type"}]` (the layers
  to fetch with `GetBlob`); `GetLayerInfo ID` returns the same inline (deprecated).
- `FinishPipe PIPEID`; `Shutdown` (no reply: the proxy exits with status 0, as it does at
  the end of the socket).

skopo answers `FinishPipe` without arguments with an error (skopeo's proxy crashes), and
its `GetRawBlob` still verifies the digest (a mismatch is reported on the error fd after
the data)."""),
]

PROXY_FLAGS: list[Flag] = [
    Flag("sockfd", int, 0, "Serve on opened socket pair (default 0/stdin)", metavar="FD"),
]

_app = typer.Typer(rich_markup_mode=None, add_completion=False)


@_app.command(name="experimental-image-proxy", hidden=True)
@command_with_flags(image_flags(""), PROXY_FLAGS)
def _experimental_image_proxy(ctx: typer.Context, flags: FlagValues) -> None:
    """Interactive proxy for fetching container images (EXPERIMENTAL).

    Run skopo as a proxy, serving the JSON-over-socket API of skopeo's
    `experimental-image-proxy` (used by rpm-ostree, bootc and ostree-rs-ext) to read
    manifests, configurations and blobs of images in any transport.
    """
    sock = open_socket(flags.get("sockfd"))

    def make_system_context() -> SystemContext:
        return system_context(flags, "", base=base_context(global_options(ctx)))

    handler = ProxyHandler(system_context=make_system_context, policy_context=lambda: policy_context(ctx))
    try:
        serve(sock, handler)
    finally:
        sock.close()


#: The entry point `toolkit.commands:experimental-image-proxy`: an already-built, hidden command.
experimental_image_proxy = typer.main.get_command(_app)
