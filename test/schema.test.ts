// The migrations, applied to an empty database, must produce exactly what
// prisma/schema.prisma describes: tables, columns, types, nullability, indexes.
import { readFileSync } from 'node:fs';
import internals from '@prisma/internals';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db.js';
import { freshDatabase } from './helpers/db.js';

interface DmmfField {
  name: string;
  kind: string;
  type: string;
  isList: boolean;
  isRequired: boolean;
  dbName?: string | null;
  nativeType?: [string, string[]] | null;
}

const SCALAR: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Float: 'double precision',
  Bytes: 'bytea',
  Decimal: 'numeric(65,30)',
};
const NATIVE: Record<string, (args: string[]) => string> = {
  Uuid: () => 'uuid',
  Timestamptz: (a) => `timestamp(${a[0] ?? 3}) with time zone`,
  Text: () => 'text',
  VarChar: (a) => (a[0] ? `character varying(${a[0]})` : 'character varying'),
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  SmallInt: () => 'smallint',
  ByteA: () => 'bytea',
  Inet: () => 'inet',
};

function expectedType(f: DmmfField): string {
  const base = f.nativeType ? NATIVE[f.nativeType[0]]!(f.nativeType[1]) : (SCALAR[f.type] ?? 'text'); // enums map to their own type
  return f.isList ? `${base}[]` : base;
}

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db?.close());

describe('migrated schema matches schema.prisma', () => {
  it('has the same tables, columns, types, nullability and indexes', async () => {
    const dmmf = await internals.getDMMF({ datamodel: readFileSync('prisma/schema.prisma', 'utf8') });
    const expected: Record<string, Record<string, string>> = {};
    const tableOf: Record<string, string> = {};
    for (const m of dmmf.datamodel.models) {
      const table = m.dbName ?? m.name;
      tableOf[m.name] = table;
      expected[table] = {};
      for (const f of m.fields as unknown as DmmfField[]) {
        if (f.kind !== 'scalar' && f.kind !== 'enum') continue;
        // Prisma creates list columns without NOT NULL.
        expected[table]![f.dbName ?? f.name] = `${expectedType(f)}${f.isRequired && !f.isList ? ' not null' : ' null'}`;
      }
    }

    const { rows } = await db.pool.query<{ table_name: string; column_name: string; type: string; is_nullable: string }>(`
      SELECT c.table_name, c.column_name, c.is_nullable,
             format_type(a.atttypid, a.atttypmod) AS type
      FROM information_schema.columns c
      JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
      WHERE c.table_schema = 'public' AND c.table_name <> '_prisma_migrations'`);
    const actual: Record<string, Record<string, string>> = {};
    for (const r of rows) {
      (actual[r.table_name] ??= {})[r.column_name] = `${r.type}${r.is_nullable === 'NO' ? ' not null' : ' null'}`;
    }
    expect(actual).toEqual(expected);

    // Indexes as (table, unique?, columns in order), including primary keys.
    const want = new Set<string>();
    for (const idx of dmmf.datamodel.indexes) {
      const table = tableOf[idx.model]!;
      const model = dmmf.datamodel.models.find((m) => m.name === idx.model)!;
      const cols = idx.fields.map((f) => model.fields.find((x) => x.name === f.name)?.dbName ?? f.name);
      want.add(`${table} ${idx.type === 'normal' || idx.type === 'fulltext' ? 'index' : 'unique'} (${cols.join(',')})`);
    }
    const { rows: idxRows } = await db.pool.query<{ table: string; unique: boolean; cols: string[] }>(`
      SELECT t.relname AS table, ix.indisunique AS unique,
             array_agg(a.attname::text ORDER BY k.ord) AS cols
      FROM pg_index ix
      JOIN pg_class t ON t.oid = ix.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
      JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE t.relname <> '_prisma_migrations'
      GROUP BY t.relname, ix.indexrelid, ix.indisunique`);
    const have = new Set(idxRows.map((r) => `${r.table} ${r.unique ? 'unique' : 'index'} (${r.cols.join(',')})`));
    expect([...have].sort()).toEqual([...want].sort());
  });

  it('records every migration in _prisma_migrations as Prisma does', async () => {
    const { rows } = await db.pool.query(`SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"`);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.applied_steps_count).toBe(1);
    }
  });
});
