"""TikTok Shop Open API adapter: signing, OAuth, client."""
