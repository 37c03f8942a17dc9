FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workbench ./workbench
COPY interviews ./interviews
COPY codebook ./codebook
COPY analysis ./analysis
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 workbench && mkdir -p /app/var \
    && chown workbench /app/var
USER workbench
EXPOSE 8000
