#!/usr/bin/env node
// `npx llama-napi <command>`: run (llama.cpp's command line), pull, inspect, estimate, info
// (the default). Everything lives in lib/cli (compiled to dist/cli); this file only hands it
// the command line and exits with the code it returns. Reference: docs/cli.md.
import { main } from '../dist/cli/main.js';

// `llama-napi run … | head` closes the pipe early: that ends the output, it is not a crash.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await main(process.argv.slice(2));
// Exit explicitly: a readline or a signal handler left by a command must not keep the process
// alive. Wait for stdout to drain first, so that output piped to a slow reader is complete.
if (process.stdout.writableNeedDrain) await new Promise((resolve) => process.stdout.once('drain', resolve));
process.exit(code);
