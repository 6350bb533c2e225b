"""The build stage: language detection, generated Dockerfiles, content-hash tags, buildah/buildx builders."""
