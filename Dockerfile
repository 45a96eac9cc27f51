# scssl: the one image every pipeline process runs in (params.scssl_container).
#   docker build -t ghcr.io/scssl/scssl:0.1.0 .
# CUDA-enabled PyTorch base; scssl and its pinned dependencies installed at build time;
# nothing is downloaded at run time (no models, no data); runs as a non-root user.
ARG BASE_IMAGE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

ARG SCSSL_VERSION=0.1.0
LABEL org.opencontainers.image.title="scssl" \
      org.opencontainers.image.description="Self-supervised deep learning for single-cell RNA-seq and CITE-seq" \
      org.opencontainers.image.version="${SCSSL_VERSION}" \
      org.opencontainers.image.source="https://github.com/scssl/scssl" \
      org.opencontainers.image.licenses="MIT"

# procps: `ps` for Nextflow's task metrics
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/scssl
COPY pyproject.toml README.md ./
COPY docker/constraints.txt docker/constraints.txt
COPY src ./src
# torch comes from the base image (CUDA build); the constraints pin everything else
RUN python -m pip install --no-cache-dir --upgrade pip \
    && python -m pip install --no-cache-dir -c docker/constraints.txt . multiqc \
    && python -c "import torch, scssl; print('scssl', scssl.__version__, 'torch', torch.__version__)" \
    && scssl --version && multiqc --version

# a non-root user; caches that libraries write go to /tmp (read-only home on clusters)
RUN useradd --create-home --uid 1000 scssl
USER scssl
ENV MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    HF_HUB_OFFLINE=1 \
    PIP_NO_INDEX=1 \
    PYTHONNOUSERSITE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /home/scssl
CMD ["scssl", "--help"]
