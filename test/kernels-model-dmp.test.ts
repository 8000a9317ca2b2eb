import { test } from 'node:test';
import { checkModelGradients } from './helpers/kernels-model.js';

// Whole-model gradients on the fast CPU path vs stock tfjs cpu (see helpers/kernels-model.ts).
test('efficientnet-b0/dmp: every weight gradient matches stock tfjs cpu', async () => {
  await checkModelGradients('dmp');
});
