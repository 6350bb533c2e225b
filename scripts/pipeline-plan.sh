#!/usr/bin/env bash
# First step of the root action (the whole pipeline): derive defaults from the service name and environment,
# and decide which optional stages run. Reads only environment variables; writes step outputs.
set -euo pipefail

out="${GITHUB_OUTPUT:-/dev/stdout}"
service="${SERVICE:-}"
[ -n "$service" ] || service="${GITHUB_REPOSITORY##*/}"
if [ -z "$service" ]; then
  echo "::error title=shipyard pipeline::Input 'service' is required outside GitHub Actions (no GITHUB_REPOSITORY). Fix: set service: <name>."
  exit 1
fi
if ! [[ "$service" =~ ^[a-z0-9][a-z0-9._/-]*$ ]]; then
  echo "::error title=shipyard pipeline::Input 'service' must be lowercase letters, digits, '.', '_', '-' or '/', got '$service'. Fix: set service: to the ECR-style name."
  exit 1
fi
environment="${ENVIRONMENT:-dev}"
short="${service##*/}"

mode="${GITOPS_MODE:-}"
if [ -z "$mode" ]; then
  case "$environment" in prd|prod|production) mode="pull-request" ;; *) mode="push" ;; esac
fi
case "$mode" in push|pull-request) ;; *)
  echo "::error title=shipyard pipeline::Input 'gitops-mode' has unknown value '$mode'; allowed values: push, pull-request."
  exit 1 ;;
esac

flag() { if [ -n "$1" ]; then echo true; else echo false; fi; }
stages="build,ecr-push"
[ -n "${CONFIG_REPOSITORY:-}" ] && stages="$stages,gitops-update"
[ -n "${CONFIG_REPOSITORY:-}" ] && [ -n "${ARGOCD_SERVER:-}" ] && stages="$stages,argocd-wait"
[ -n "${BITBUCKET_WORKSPACE:-}" ] && stages="$stages,bitbucket-mirror"
[ -n "${POSTMAN_API_KEY:-}" ] && stages="$stages,postman-publish"

{
  echo "service=$service"
  echo "ecr-repository=${ECR_REPOSITORY:-$service}"
  echo "config-paths=${CONFIG_PATHS:-apps/$short/overlays/$environment*/kustomization.yaml}"
  echo "gitops-mode=$mode"
  echo "argocd-applications=${ARGOCD_APPLICATIONS:-$short-$environment}"
  echo "stages=$stages"
  echo "slack=$(flag "${SLACK:-}")"
  echo "gitops=$(flag "${CONFIG_REPOSITORY:-}")"
  echo "argocd=$( [ -n "${CONFIG_REPOSITORY:-}" ] && flag "${ARGOCD_SERVER:-}" || echo false)"
  echo "bitbucket=$(flag "${BITBUCKET_WORKSPACE:-}")"
  echo "postman=$(flag "${POSTMAN_API_KEY:-}")"
} >> "$out"
