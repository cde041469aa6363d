# The API and the worker share one image; docker-compose.yml picks the entry point.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY api ./api
COPY lib ./lib
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY migrations ./migrations
COPY scripts ./scripts
COPY client ./client
COPY console ./console
COPY tsconfig.build.json ./
RUN npx tsc -p tsconfig.build.json && node --import tsx scripts/buildConsole.ts && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./package.json
USER node
EXPOSE 8005
CMD ["node", "--max-semi-space-size=2", "dist/api/server.js"]
