#!/usr/bin/env node
// Launcher: the package ships TypeScript sources and runs them through tsx's loader.
import { register } from 'tsx/esm/api';

register();
// `edge-dmp models | head` closes stdout early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
