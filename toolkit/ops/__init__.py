"""The library verbs (layer 7): what each `skopo` command does, without printing.

- `ops.copy`: the copy engine, `copy_image(policy, dest_ref, src_ref, *, options=None)`
  (containers/image's argument order; `toolkit.copy` is the public, source-first face);
- `ops.inspect`: `inspect_image`, `raw_manifest`, `image_config`,
  `list_platforms`;
- `ops.policy_check`: `check_policy` (every requirement's verdict, nothing copied);
- `ops.sync`: `plan_sync` then `run_sync`;
- `ops.tags`: `list_tags`; `ops.sign`: standalone GPG `standalone_sign`/`standalone_verify`
  and `gpg_signer`; `ops.sigstore_sign`: sigstore signers;
- `ops.report`: the `Reporter` protocol progress goes through (`CallbackReporter` for a
  plain function).

These modules are internal: the stable names are re-exported by `toolkit` (see its
docstring). Progress goes through callbacks; nothing here prints or exits.
"""
