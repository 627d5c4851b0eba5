import { setFlagsFromString } from 'node:v8';

/**
 * Prisma's query compiler and the embedded PostgreSQL are WebAssembly. V8 compiles it twice
 * by default, a baseline tier and then optimised code, and keeps both: 50 MB (server) to
 * 85 MB (embedded) of resident memory for code whose time is spent waiting on the database
 * anyway (bench/memory.ts). Baseline code only, unless WASM_OPTIMIZE asks for both. Must run
 * before the first database connection compiles the modules.
 */
export function chooseWasmTiers(optimize: boolean) {
  if (!optimize) setFlagsFromString('--liftoff-only');
}
