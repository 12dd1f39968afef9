"""The OCI distribution-spec 1.1 referrers API, served by a `FaultProxy` rule in front of a
real docker-registry 2.8 (which has none).

`ReferrersApi()` is a proxy rule (`proxy.rule = api`):
- a manifest PUT whose body has a `subject` is forwarded; when the registry accepts it, the
  reply carries `OCI-Subject: <subject digest>` (spec "Pushing Manifests with Subject") and
  the manifest is recorded as a referrer of that subject in that repository;
- `GET /v2/<name>/referrers/<digest>[?artifactType=T][&n=N][&last=D]` answers an image
  index (`Content-Type: application/vnd.oci.image.index.v1+json`) whose descriptors carry
  `artifactType` (the manifest's, else its config media type) and the manifest's
  annotations; with `artifactType` the list is filtered and `OCI-Filters-Applied:
  artifactType` is sent; pages hold `page_size` descriptors and all but the last send
  `Link: <...&last=D>; rel="next"`; an unknown subject gives an empty index, never 404;
  a malformed digest gives 400 (spec "Listing Referrers").
Everything else is forwarded untouched. `requests` counts the referrers GETs served.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from helpers.fault_proxy import Forward, ProxyRequest, Reply

__all__ = ["ReferrersApi", "INDEX_MEDIA_TYPE"]

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
_MANIFEST_PUT = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/?]+)$")
_REFERRERS_GET = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/?]+)$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass
class ReferrersApi:
    """A proxy rule implementing the referrers API (see the module docstring)."""

    page_size: int = 100
    #: (repository, subject digest) -> descriptors, in push order.
    referrers: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, req: ProxyRequest) -> Forward | Reply | None:
        path = urlsplit(req.path).path
        if req.method == "PUT" and (put := _MANIFEST_PUT.match(path)) is not None:
            return self._on_put(put["name"], req)
        if req.method == "GET" and (get := _REFERRERS_GET.match(path)) is not None:
            return self._list(get["name"], get["digest"], parse_qs(urlsplit(req.path).query))
        return None

    def _on_put(self, name: str, req: ProxyRequest) -> Forward | None:
        try:
            doc = json.loads(req.body)
        except ValueError:
            return None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return None
        descriptor: dict[str, Any] = {
            "mediaType": req.headers.get("Content-Type", doc.get("mediaType", "")),
            "digest": "sha256:" + hashlib.sha256(req.body).hexdigest(),
            "size": len(req.body),
        }
        artifact_type = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if doc.get("annotations"):
            descriptor["annotations"] = doc["annotations"]
        with self._lock:
            listed = self.referrers.setdefault((name, subject["digest"]), [])
            if all(d["digest"] != descriptor["digest"] for d in listed):
                listed.append(descriptor)
        return Forward(extra_headers_on_success=[("OCI-Subject", subject["digest"])])

    def _list(self, name: str, digest: str, query: dict[str, list[str]]) -> Reply:
        if _DIGEST.match(digest) is None:
            body = json.dumps({"errors": [{"code": "DIGEST_INVALID", "message": "invalid digest"}]}).encode()
            return Reply(400, [("Content-Type", "application/json")], body)
        with self._lock:
            self.requests += 1
            found = list(self.referrers.get((name, digest), []))
        headers = [("Content-Type", INDEX_MEDIA_TYPE)]
        wanted = query.get("artifactType", [])
        if wanted:
            found = [d for d in found if d.get("artifactType") in wanted]
            headers.append(("OCI-Filters-Applied", "artifactType"))
        start = 0
        last = query.get("last", [""])[0]
        if last:
            start = next((i + 1 for i, d in enumerate(found) if d["digest"] == last), len(found))
        page = found[start : start + self.page_size]
        if start + self.page_size < len(found):
            params = f"last={quote(page[-1]['digest'])}"
            if wanted:
                params += "&artifactType=" + quote(wanted[0])
            headers.append(("Link", f'</v2/{name}/referrers/{digest}?{params}>; rel="next"'))
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": page}).encode()
        return Reply(200, headers, body)
