# syntax=docker/dockerfile:1
# One image per service, each with only its own dependencies: `docker build --target intake .`
# (intake, scheduler, notifier, clinic), and `--target operator` for the `iop` command line that
# creates the topics. docker-compose.yml and deploy/k8s use these targets.
#
# Every image installs from its own lock (requirements/<target>.txt: every package pinned, each
# file's sha256 checked by pip), then the project's packages from the tree without dependencies.
# The base is pinned by digest: python:3.11.15-slim-trixie, the multi-platform index as the
# Docker Official Images' repo-info records it (docs/operations.md, "Images", says how to move it).
ARG PYTHON_IMAGE=python:3.11.15-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

# --- build: a virtualenv at /opt/iop per target; nothing of this stage but the venv ships -------
FROM ${PYTHON_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/iop
# The project's wheels are built by the base image's own setuptools (pinned with the digest), so
# the build fetches nothing that the locks do not name.
COPY contracts/ contracts/
RUN pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels ./contracts

FROM build AS build-intake
COPY requirements/intake.txt requirements/
RUN /opt/iop/bin/pip install --require-hashes -r requirements/intake.txt
COPY services/intake/ services/intake/
RUN pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels ./services/intake \
    && /opt/iop/bin/pip install --no-deps /wheels/*.whl && /opt/iop/bin/pip check

FROM build AS build-scheduler
COPY requirements/scheduler.txt requirements/
RUN /opt/iop/bin/pip install --require-hashes -r requirements/scheduler.txt
COPY services/scheduler/ services/scheduler/
RUN pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels ./services/scheduler \
    && /opt/iop/bin/pip install --no-deps /wheels/*.whl && /opt/iop/bin/pip check

FROM build AS build-notifier
COPY requirements/notifier.txt requirements/
RUN /opt/iop/bin/pip install --require-hashes -r requirements/notifier.txt
COPY services/notifier/ services/notifier/
RUN pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels ./services/notifier \
    && /opt/iop/bin/pip install --no-deps /wheels/*.whl && /opt/iop/bin/pip check

FROM build AS build-clinic
COPY requirements/clinic.txt requirements/
RUN /opt/iop/bin/pip install --require-hashes -r requirements/clinic.txt
COPY services/clinic/ services/clinic/
RUN pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels ./services/clinic \
    && /opt/iop/bin/pip install --no-deps /wheels/*.whl && /opt/iop/bin/pip check

# The operator CLI imports every service's package (`iop` depends on them), so it carries them all.
FROM build AS build-operator
COPY requirements/operator.txt requirements/
RUN /opt/iop/bin/pip install --require-hashes -r requirements/operator.txt
COPY services/intake/ services/intake/
COPY services/scheduler/ services/scheduler/
COPY services/notifier/ services/notifier/
COPY pyproject.toml ./
COPY iop/ iop/
RUN pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels \
        ./services/intake ./services/scheduler ./services/notifier . \
    && /opt/iop/bin/pip install --no-deps /wheels/*.whl && /opt/iop/bin/pip check

# --- runtime: the base image, a numeric user and one venv ---------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/iop/bin:$PATH
# A numeric user (Kubernetes' runAsNonRoot can verify only a number); the name is for `ps`.
# /var/lib/iop is where the notifier keeps its ledger (a volume in compose and Kubernetes).
RUN groupadd --gid 10001 iop \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin iop \
    && install -d -o 10001 -g 10001 /var/lib/iop
WORKDIR /var/lib/iop

FROM runtime AS intake
COPY --from=build-intake /opt/iop /opt/iop
USER 10001:10001
ENV INTAKE_HTTP_HOST=0.0.0.0
EXPOSE 8080
CMD ["iop-intake", "run"]

FROM runtime AS scheduler
COPY --from=build-scheduler /opt/iop /opt/iop
USER 10001:10001
ENV SCHEDULER_HTTP_HOST=0.0.0.0
EXPOSE 8081
CMD ["iop-scheduler", "run"]

FROM runtime AS notifier
COPY --from=build-notifier /opt/iop /opt/iop
USER 10001:10001
ENV NOTIFIER_HTTP_HOST=0.0.0.0 NOTIFIER_LEDGER_PATH=/var/lib/iop/notifier-ledger.sqlite3
EXPOSE 8082
CMD ["iop-notifier", "run"]

FROM runtime AS clinic
COPY --from=build-clinic /opt/iop /opt/iop
USER 10001:10001
ENV CLINIC_HTTP_HOST=0.0.0.0
EXPOSE 8083
CMD ["iop-clinic", "run"]

FROM runtime AS operator
COPY --from=build-operator /opt/iop /opt/iop
USER 10001:10001
CMD ["iop", "topics", "create"]
