# syntax=docker/dockerfile:1
# policycheck with every extra (aws, azure, gcp, rego, demo), installed from its wheel.
#   docker build -t policycheck .
#   docker run --rm -v "$PWD:/work:ro" policycheck scan terraform plan.json --format sarif > policycheck.sarif
# More (live audits with mounted credentials): docs/install.md.
# tests/test_install.py builds the wheel from exactly the files copied below and
# installs it into a fresh venv the way this image does.

# Pinned to a patch release of Python and Debian 13; pin the digest as well
# (python:3.13.16-slim-trixie@sha256:...) where your registry policy asks for it.
ARG PYTHON_IMAGE=python:3.13.16-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY policies/ policies/
COPY policycheck/ policycheck/
# The wheel carries the port-matrix catalog and the Rego policy (package data);
# the venv is what the runtime stage copies, so no build tool reaches it.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
    && python -m venv /opt/policycheck \
    && wheel="$(echo /dist/policycheck-*.whl)" \
    && /opt/policycheck/bin/python -m pip install "${wheel}[all]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="policycheck" \
      org.opencontainers.image.description="Checks cloud firewall rules in front of SwyxWare VMs against the vendor's port matrix" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/policycheck /opt/policycheck
# A fixed non-root UID/GID, so mounted files can be made readable to it and
# Kubernetes' runAsNonRoot can verify it; its home takes mounted credentials
# (~/.aws, ~/.azure, ~/.config/gcloud).
RUN groupadd --system --gid 10001 policycheck \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/policycheck \
       --shell /usr/sbin/nologin policycheck
USER 10001:10001
ENV PATH=/opt/policycheck/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /work
ENTRYPOINT ["policycheck"]
CMD ["--help"]
