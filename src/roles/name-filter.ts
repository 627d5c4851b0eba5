import retModule, { types, type Root, type Token } from 'ret';
import safeRegex from 'safe-regex2';
import { AppError } from '../platform/errors.js';

export const NAME_FILTER_MAX_LENGTH = 200;

// ret is CommonJS whose module.exports is the tokenizer itself.
const tokenize = retModule as unknown as (pattern: string) => Root;

const refuse = (detail: string) => new AppError(400, 'invalid_value', 'Invalid value', detail, { parameter: 'NameFilter' });

/**
 * Compiles the NameFilter regular expression of ListRoles. Patterns that could
 * backtrack exponentially (star height > 1) are refused, as are long ones, so a
 * caller cannot stall the event loop.
 */
export function compileNameFilter(pattern: string): RegExp {
  if (pattern.length > NAME_FILTER_MAX_LENGTH) throw refuse(`NameFilter must be at most ${NAME_FILTER_MAX_LENGTH} characters`);
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'u');
  } catch (e) {
    throw refuse(`NameFilter is not a valid regular expression: ${(e as Error).message}`);
  }
  if (!safeRegex(re, { limit: 25 })) throw refuse('NameFilter could take exponential time (nested quantifiers); simplify it');
  if (repeatsAlternation(pattern)) throw refuse('NameFilter could take exponential time (a repeated group with alternatives); simplify it');
  return re;
}

/**
 * safe-regex2 measures star height only; `(a|a)*b` has height one and still
 * backtracks exponentially. Refuse every repeated group holding alternatives.
 */
function repeatsAlternation(pattern: string): boolean {
  let tree: Root;
  try {
    tree = tokenize(pattern);
  } catch {
    return true;
  }
  const walk = (node: Token, repeated: boolean): boolean => {
    if (node.type === types.REPETITION) return walk(node.value, repeated || node.max > 1);
    const options = 'options' in node ? node.options : undefined;
    if (options && options.length > 1 && repeated) return true;
    const children = [...(options ?? []).flat(), ...('stack' in node && node.stack ? node.stack : [])];
    return children.some((c) => walk(c, repeated));
  };
  return walk(tree as unknown as Token, false);
}
