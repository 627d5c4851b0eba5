// No Docker engine runs here, so the deployment files are checked by reading them.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

describe('deployment files', () => {
  it('Dockerfile is multi-stage and runs as a non-root user', () => {
    const file = readFileSync('Dockerfile', 'utf8');
    const stages = file.match(/^FROM /gm) ?? [];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = file.slice(file.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^USER (?!root)\S+/m);
    expect(runtime).toMatch(/^HEALTHCHECK /m);
    expect(runtime).toContain('dist/src/server.js');
  });

  it('docker-compose.yml runs PostgreSQL 16 and the server, both health-checked', () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
    expect(compose.services.postgres.image).toBe('postgres:16');
    expect(compose.services.postgres.healthcheck.test).toBeTruthy();
    expect(compose.services.iam.healthcheck.test.join(' ')).toContain('/api/v3/health/readiness');
    expect(compose.services.iam.depends_on.postgres.condition).toBe('service_healthy');
    expect(compose.services.iam.environment.DATABASE_URL).toMatch(/^postgresql:\/\/.*@postgres:5432\//);
    // DATA_DIR (the image's /var/lib/iam) holds the bootstrap credentials file and exports: a named volume keeps them.
    const dataDir = /^ENV .*\bDATA_DIR=(\S+)/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    expect(dataDir).toBeTruthy();
    expect(compose.services.iam.volumes).toContain(`iamdata:${dataDir}`);
    expect(Object.keys(compose.volumes)).toContain('iamdata');
  });
});
