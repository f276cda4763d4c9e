// eslint for the console's pages (console/static/: plain ES modules served as they are, no build
// step). `make lint` runs it from the repository's root:
//   console/frontend/node_modules/.bin/eslint -c console/frontend/eslint.config.js console/static
// (with -c, paths are the working directory's: hence the root and "console/static" below).
import js from "@eslint/js";
import globals from "globals";

const STATIC = "console/static";

export default [
  // Leaflet and other installed packages are copied into vendor/ at set-up time: not ours.
  { basePath: STATIC, ignores: ["vendor/**"] },
  {
    ...js.configs.recommended,
    basePath: STATIC,
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, L: "readonly" }, // L: Leaflet, a classic script of the page
    },
    rules: {
      ...js.configs.recommended.rules,
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  // The one classic script: the boot-time error reporter, loaded before anything else so that a
  // failed asset or module is reported.
  {
    basePath: STATIC,
    files: ["lib/boot.js"],
    languageOptions: { sourceType: "script" },
    rules: { "no-var": "off" },
  },
];
