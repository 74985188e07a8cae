# One image for the three services and the operator CLI (`iop topics create` is compose's topic
# job); docker-compose.yml picks the command of each.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY contracts/ contracts/
COPY services/ services/
COPY pyproject.toml ./
COPY iop/ iop/
RUN pip install ./contracts ./services/scheduler ./services/intake ./services/notifier . \
    && useradd --create-home --uid 10001 iop \
    && mkdir -p /var/lib/iop && chown iop /var/lib/iop

USER iop
EXPOSE 8080 8081 8082
