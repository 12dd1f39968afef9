"""The built-in subcommands: one thin module per verb.

`BUILTIN` lists them (name -> `"module:attribute"`), exactly as skopo's `pyproject.toml`
declares them in the entry-point group `toolkit.commands` (a test keeps both equal).
`toolkit.cli.app` looks a built-in name up here and imports that one module only, with
no entry-point scan (see `toolkit.plugins`); plugin commands come from the scan.
"""

__all__ = ["BUILTIN"]

BUILTIN: dict[str, str] = {
    "copy": "toolkit.cli.commands.copy:copy",
    "inspect": "toolkit.cli.commands.inspect:inspect",
    "manifest-digest": "toolkit.cli.commands.manifest_digest:manifest_digest",
    "generate-sigstore-key": "toolkit.cli.commands.generate_sigstore_key:generate_sigstore_key",
    "list-tags": "toolkit.cli.commands.list_tags:list_tags",
    "delete": "toolkit.cli.commands.delete:delete",
    "experimental-image-proxy": "toolkit.cli.commands.experimental_image_proxy:experimental_image_proxy",
    "login": "toolkit.cli.commands.login:login",
    "logout": "toolkit.cli.commands.logout:logout",
    "standalone-sign": "toolkit.cli.commands.standalone_sign:standalone_sign",
    "standalone-verify": "toolkit.cli.commands.standalone_verify:standalone_verify",
    "sync": "toolkit.cli.commands.sync:sync",
    "policy": "toolkit.cli.commands.policy:app",
    "layers": "toolkit.cli.commands.layers:layers",
    "untrusted-signature-dump-without-verification": (
        "toolkit.cli.commands.untrusted_signature_dump:untrusted_signature_dump_without_verification"
    ),
}
