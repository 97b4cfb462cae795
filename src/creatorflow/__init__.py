"""CreatorFlow: fulfillment engine for TikTok Shop sellers."""

__version__ = "0.1.0"
