"""FileStream: stream and download Telegram files over HTTP, straight from Telegram."""

__version__ = "0.1.0"
