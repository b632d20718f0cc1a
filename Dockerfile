# One image for the agnt server and executors (code runs from TypeScript through tsx).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/domain/package.json packages/domain/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
COPY packages/executor/package.json packages/executor/
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.base.json ./
COPY migrations migrations
COPY packages packages
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
USER node
CMD ["node", "packages/server/bin/agnt-server.js", "serve"]
