// ESLint 9 flat config (`npm run lint`): the JavaScript and typescript-eslint recommended rules, without type
// information, which would make every run several times slower. Formatting is Prettier's job (`npm run format:check`).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['src/generated/**', 'dist/**', 'data/**', 'node_modules/**', 'openapi/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Input validators reject C0 control characters on purpose (/[\x00-\x1f]/): that is the point of those regexes.
      'no-control-regex': 'off',
      // `const { [key]: _, ...rest } = o` is how we drop a key; `_`-prefixed names are deliberately unused.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read untyped JSON bodies and reach into library internals; `any` there is a convenience, not a hole.
    files: ['test/**/*.ts', 'src/**/*.test.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
