#!/usr/bin/env node
// Launcher of the board CLI (@edge-dmp/device: device-side commands only). Runs the compiled JavaScript in dist/ (`npm run build`); with
// EDGE_DMP_SOURCE=1 (the test runner sets it) it runs the TypeScript sources through tsx instead.
const source = process.env.EDGE_DMP_SOURCE === '1';
// `edge-dmp models | head` closes stdout early: that is not an error. A command that handles
// its own stdout errors (the agent daemon keeps running without its log reader) opts out.
process.stdout.on('error', (e) => {
  if (process.stdout.listenerCount('error') > 1) return;
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
try {
  if (source) (await import('tsx/esm/api')).register();
  const entry = source ? '../cli/main.ts' : '../dist/cli/main.js';
  const { deviceMain: main } = await import(entry).catch((e) => {
    if (!source && e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/main.js')) {
      console.error('edge-dmp: dist/ is missing: run `npm run build` first (or set EDGE_DMP_SOURCE=1)');
      process.exit(1);
    }
    throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // Print our own short report: an uncaught error would otherwise reach the handler that the
  // emscripten (wasm) runtime installs, which prints its whole minified source.
  console.error(`edge-dmp: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
}
