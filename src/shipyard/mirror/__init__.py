"""Bitbucket backup mirror: a complete, verified mirror of every branch and tag (stage ``bitbucket-mirror``)."""
