"""Local stack: real services on loopback for tests and demos (registry, buildah, moto, git)."""

from .buildah import Buildah, buildah_env, login, make_base_image
from .gitserver import GitServer, auth_env
from .moto_ecr import MotoServer
from .ports import ServiceError, free_port, wait_for_port
from .registry import Registry

__all__ = [
    "Buildah",
    "GitServer",
    "MotoServer",
    "Registry",
    "ServiceError",
    "auth_env",
    "buildah_env",
    "free_port",
    "login",
    "make_base_image",
    "wait_for_port",
]
