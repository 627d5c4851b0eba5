#!/usr/bin/env bash
# Prints the SQL that takes the database from one schema.prisma to another, offline,
# with Prisma 6.19's JavaScript schema engine (Prisma 7's CLI needs a native engine
# that cannot be downloaded here). Usage:
# It needs any reachable PostgreSQL for its adapter (DIFF_PG_URL, default the local server); nothing is written to it.
#   scripts/migration-diff.sh OLD.prisma|--empty NEW.prisma > prisma/migrations/<ts>_<name>/migration.sql
set -euo pipefail
old=$1 new=$2
work=${PRISMA6_DIR:-/tmp/prisma6}
if [ ! -d "$work/node_modules/prisma" ]; then
  mkdir -p "$work" && (cd "$work" && npm init -y >/dev/null && npm i --silent prisma@6.19 @prisma/adapter-pg@6.19 @prisma/client@6.19 >/dev/null)
fi
prep() { # prisma 6 wants the url in the datasource block and the old generator name
  sed -e 's/^\(\s*provider = "postgresql"\)$/\1\n  url = env("DATABASE_URL")/' \
      -e 's/"prisma-client"/"prisma-client-js"/' "$1" | grep -v 'moduleFormat\|runtime ' > "$2"
}
prep "$new" "$work/new.prisma"
from=(--from-empty)
if [ "$old" != "--empty" ]; then prep "$old" "$work/old.prisma"; from=(--from-schema-datamodel old.prisma); fi
cat > "$work/prisma.config.ts" <<'TS'
import { PrismaPg } from '@prisma/adapter-pg';
export default {
  experimental: { adapter: true },
  engine: 'js',
  adapter: async () => new PrismaPg({ connectionString: process.env.DIFF_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' }),
};
TS
cd "$work"
DATABASE_URL=postgresql://x@127.0.0.1:1/x PRISMA_SCHEMA_ENGINE_BINARY=/bin/true PRISMA_QUERY_ENGINE_LIBRARY=/bin/true \
  npx prisma migrate diff "${from[@]}" --to-schema-datamodel new.prisma --script
