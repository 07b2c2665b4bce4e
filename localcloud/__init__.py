"""The embedded local cloud: ministack in-process plus our extensions, on 127.0.0.1:4566."""
