"""The links of a stored file: signed tokens turned into the URLs people open."""

from __future__ import annotations

from dataclasses import dataclass

from FileStream.core.formatting import download_url, stream_url, watch_url
from FileStream.core.models import StoredFile
from FileStream.core.tokens import make_link_token


@dataclass(frozen=True)
class FileLinks:
    watch: str
    stream: str
    download: str


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
