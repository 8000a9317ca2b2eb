#!/usr/bin/env node
// Launcher: the package ships TypeScript sources and runs them through tsx's loader.
import { register } from 'tsx/esm/api';

register();
// `edge-dmp models | head` closes stdout early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
try {
  const { main } = await import('../cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // Print our own short report: an uncaught error would otherwise reach the handler that the
  // emscripten (wasm) runtime installs, which prints its whole minified source.
  console.error(`edge-dmp: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
}
