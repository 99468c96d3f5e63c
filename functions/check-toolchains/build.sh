#!/usr/bin/env bash
# Build the check-toolchains image and push it to ECR (needs docker and AWS credentials):
#   functions/check-toolchains/build.sh <account> <region> [tag]
# Prints the image URI to give the deployment (see README.md here).
set -euo pipefail
account="$1" region="$2" tag="${3:-$(git rev-parse --short HEAD)}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
repo="strata-check-toolchains"
registry="${account}.dkr.ecr.${region}.amazonaws.com"
aws ecr describe-repositories --repository-names "$repo" --region "$region" >/dev/null 2>&1 \
  || aws ecr create-repository --repository-name "$repo" --region "$region" \
       --image-scanning-configuration scanOnPush=true >/dev/null
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
docker build --platform linux/amd64 -f "$root/functions/check-toolchains/Dockerfile" \
  -t "$registry/$repo:$tag" "$root"
docker push "$registry/$repo:$tag" >/dev/null
echo "$registry/$repo:$tag"
