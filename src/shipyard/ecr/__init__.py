"""The ecr-push stage: AWS credentials (OIDC/static/ambient), standard repositories, login, idempotent pushes,
scan gate. See actions/ecr-push/README.md."""
