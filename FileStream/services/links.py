"""The links of a stored file: signed tokens turned into the URLs people open."""

from __future__ import annotations

from dataclasses import dataclass

from FileStream.core.formatting import (
    bundle_playlist_url,
    bundle_url,
    bundle_zip_url,
    download_url,
    stream_url,
    watch_url,
)
from FileStream.core.models import Bundle, StoredFile
from FileStream.core.tokens import make_bundle_token, make_link_token


@dataclass(frozen=True)
class FileLinks:
    watch: str
    stream: str
    download: str


@dataclass(frozen=True)
class BundleLinks:
    page: str        # every file, Play all, the ZIP and the playlist
    zip: str         # the whole bundle as one ZIP
    playlist: str    # M3U of the audio and video


@dataclass(frozen=True)
class LinkMaker:
    public_url: str
    secret: bytes = b""

    def links(self, file: StoredFile) -> FileLinks:
        token = make_link_token(self.secret, file.id, file.expires_at)
        return FileLinks(
            watch=watch_url(self.public_url, token),
            stream=stream_url(self.public_url, token, file.file_name),
            download=download_url(self.public_url, token, file.file_name),
        )

    def bundle_links(self, bundle: Bundle) -> BundleLinks:
        token = make_bundle_token(self.secret, bundle.id, bundle.expires_at)
        return BundleLinks(
            page=bundle_url(self.public_url, token),
            zip=bundle_zip_url(self.public_url, token, bundle.title),
            playlist=bundle_playlist_url(self.public_url, token, bundle.title),
        )
