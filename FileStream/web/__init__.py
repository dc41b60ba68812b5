"""The HTTP server that serves files by link: build_app in app.py, the interfaces it needs in ports.py."""
