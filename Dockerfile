# The identity-auditor command line as a container image, for CI pipelines (docs/custom-rules.md, README "Install"):
#   docker build -t identity-auditor .
#   docker run --rm -v "$PWD:/work" identity-auditor evaluate logs/ --fail-on high
#   docker run --rm -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN \
#       identity-auditor audit-account
# Custom rules: mount them and name them, e.g. -v "$PWD/custom_rules:/rules:ro" -e IDENTITY_AUDITOR_RULES_DIR=/rules.
# The dependencies are pinned by requirements/dev.txt (the versions the test-suite runs), used as constraints
# (without extras, which pip refuses in a constraints file).

FROM python:3.13-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY layers/identity_auditor/identity_auditor ./layers/identity_auditor/identity_auditor
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.13-slim
LABEL org.opencontainers.image.title="identity-auditor" \
      org.opencontainers.image.description="Compliance auditor for AWS identity: CloudTrail and account state against the rules" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/dev.txt /tmp/dev.txt
COPY --from=build /wheels /wheels
RUN sed -E 's/\[[^]]*\]//' /tmp/dev.txt > /tmp/constraints.txt \
    && pip install --no-cache-dir --constraint /tmp/constraints.txt /wheels/*.whl \
    && rm -rf /wheels /tmp/dev.txt /tmp/constraints.txt \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin auditor
USER 10001
WORKDIR /work
# A command line, not a service: nothing to probe.
HEALTHCHECK NONE
ENTRYPOINT ["identity-auditor"]
CMD ["--help"]
