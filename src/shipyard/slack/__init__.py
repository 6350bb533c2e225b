"""The slack-notify stage: one live Slack message per pipeline run (see actions/slack-notify/README.md)."""
