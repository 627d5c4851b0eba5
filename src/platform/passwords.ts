import { hash, verify } from '@node-rs/argon2';
import type { Config } from './config.js';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** The argon2id cost settings of the configuration. */
export function argon2Params(config: Pick<Config, 'ARGON2_MEMORY_KIB' | 'ARGON2_ITERATIONS' | 'ARGON2_PARALLELISM'>): Argon2Params {
  return { memoryCost: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_ITERATIONS, parallelism: config.ARGON2_PARALLELISM };
}

// Algorithm 2 = argon2id.
export const hashPassword = (password: string, p: Argon2Params) => hash(password, { ...p, algorithm: 2 });

export async function verifyPassword(hashed: string, password: string): Promise<boolean> {
  try {
    return await verify(hashed, password);
  } catch {
    return false;
  }
}
