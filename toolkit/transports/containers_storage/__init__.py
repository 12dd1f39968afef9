"""The `containers-storage:` transport: images in a containers/storage store (podman,
buildah, CRI-O), read and written as containers/image 5.23 over containers/storage 1.43 do.

Design (why skopo drives c/storage's own command for one step, and only that one):
- Reading is pure Python. The store's JSON (`images.json`, `layers.json`), its big data
  files and its lock files are simple and stable; a layer's original tar is rebuilt from
  its tar-split data and the layer's files (`_layer_reader.py`) and verified against the
  recorded uncompressed digest as it streams. No extra program is needed to export images.
- Creating a *layer* is not simple: it means extracting an untrusted tar into a root-owned
  store exactly as the graph driver does (overlay whiteouts as 0/0 character devices or
  AUFS files with a `mount_program`, opaque-directory xattrs, ownership, devices, hard
  links, path-escape checks) and writing tar-split data with CRC-64 checksums, the
  `incomplete` flag protocol and the driver's bookkeeping (overlay's `link`/`lower` files
  and `l/` symlinks). A re-implementation would be the least trustworthy part of skopo and
  would drift from every driver option. So layers are created by `containers-storage
  import-layer` (`_cli.py`; Debian's package of the same c/storage 1.43 that podman 4.3.1
  links), which *is* c/storage's `PutLayer`, for every driver it supports.
- The *image record* is written by skopo (`_destination.py`), because the command cannot
  write it as c/image does (it sets `created` to now, has no `names-history`, cannot pass
  the manifest digest function) and because skopo can do better than c/image: the record
  appears complete in one rename of `images.json`, under c/storage's locks and
  last-writer protocol (`_lockfile.py`), after every big data file is in place.

Modules: `_reference.py` (syntax, defaults, resolution, policy scopes), `_store.py`
(on-disk records), `_lockfile.py`, `_layer_reader.py`, `_source.py`, `_destination.py`,
`_cli.py`. Supported drivers: overlay and vfs (others are refused by name). A store
written by a newer containers/storage (record fields 1.43 does not know) is read, but
never written.
"""

from __future__ import annotations

from toolkit.transports.containers_storage._reference import TRANSPORT, StorageReference, StorageTransport

__all__ = ["TRANSPORT", "StorageTransport", "StorageReference"]
