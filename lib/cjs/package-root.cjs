'use strict';
// The package root folder for the CommonJS build: the CommonJS twin of lib/package-root.ts
// (see there). scripts/build-ts.mjs copies this file over dist/cjs/package-root.js, two levels
// below the root (as this file is).
Object.defineProperty(exports, '__esModule', { value: true });
exports.packageRoot = require('node:path').join(__dirname, '..', '..');
