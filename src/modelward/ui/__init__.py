"""The web UI: server-rendered Jinja2 pages over the same services as the API."""
