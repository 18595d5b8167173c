# The IdP as a container: Node 24 LTS, production dependencies only, running as the unprivileged
# `node` user. Keys and the embedded database live in volumes at /app/keys and /app/data.
FROM node:24.22.3-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY idp ./idp
COPY migrations ./migrations
COPY convex/auth.config.ts ./convex/auth.config.ts
RUN mkdir -p keys data && chown node:node keys data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/healthz`).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "idp/cli/bin.ts", "serve"]
