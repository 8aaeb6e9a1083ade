#!/usr/bin/env node
// onnxruntime-node on the same fixture models as bench_infer, timed the same
// way: a 0.2 s warm-up, then REPS blocks of about SECONDS/REPS each; the row
// gives the median block's images/s (and the slowest and fastest).
//
//   node bench/ort_peer.js --threads 2 --reps 7 --seconds 1.5 --batches 1,64 [model ...]
//
// onnxruntime-node is loaded from $NAD_ORT_DIR (default /tmp/ortpeer), never
// from the repository.  Settings per shared/reference/peers.md:
// intraOpNumThreads = nadapt's thread count, interOpNumThreads 1, sequential
// execution, graphOptimizationLevel 'all'.  Only session.run is timed.
//
// Output rows (tab-separated), matching bench_infer's "infer" rows:
//   ort  <model> <batch> <threads> <median images/s> <min> <max>
'use strict';
const fs = require('fs');
const path = require('path');

const ortDir = process.env.NAD_ORT_DIR || '/tmp/ortpeer';
let ort;
try {
  ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
} catch (err) {
  console.error(`ort_peer: cannot load onnxruntime-node from ${ortDir}: ${err.message}`);
  process.exit(1);
}

const srcDir = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
let threads = 2, reps = 7, seconds = 1.5, batches = [1, 64];
const models = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--threads') threads = parseInt(args[++i], 10);
  else if (args[i] === '--reps') reps = parseInt(args[++i], 10);
  else if (args[i] === '--seconds') seconds = parseFloat(args[++i]);
  else if (args[i] === '--batches') batches = args[++i].split(',').map((s) => parseInt(s, 10));
  else if (args[i] === '--no-conv') { /* accepted for symmetry with bench_infer */ }
  else if (args[i].startsWith('-')) { console.error(`ort_peer: unknown option ${args[i]}`); process.exit(1); }
  else models.push(args[i]);
}
if (models.length === 0) models.push('cnn_bn', 'resnet', 'mobilenetv2', 'concat', 'mlp_pool');

// The first 256 Fashion-MNIST test images (uint8 .npy), normalised like nadapt.
function loadImages() {
  const buf = fs.readFileSync(path.join(srcDir, 'examples/fixtures/fmnist_test256_images.npy'));
  const hl = buf.readUInt16LE(8);
  const pix = buf.subarray(10 + hl);
  const x = new Float32Array(pix.length);
  for (let i = 0; i < pix.length; i++) x[i] = (pix[i] / 255 - 0.2860) / 0.3530;
  return x;
}

function nowS() {
  const [s, ns] = process.hrtime();
  return s + ns * 1e-9;
}

async function main() {
  const images = loadImages();
  for (const name of models) {
    const file = name.endsWith('.onnx') ? name : path.join(srcDir, 'examples/fixtures', `${name}.op13.onnx`);
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const inName = session.inputNames[0];
    for (const batch of batches) {
      const data = new Float32Array(batch * 784);
      for (let i = 0; i < batch; i++) data.set(images.subarray((i % 256) * 784, (i % 256 + 1) * 784), i * 784);
      const feeds = { [inName]: new ort.Tensor('float32', data, [batch, 1, 28, 28]) };
      let calls = 0;
      const t0 = nowS();
      while (nowS() - t0 < 0.2) { await session.run(feeds); calls++; }
      const perBlock = Math.max(1, Math.floor((calls / 0.2) * seconds / reps));
      const rates = [];
      for (let k = 0; k < reps; k++) {
        let busy = 0;
        for (let c = 0; c < perBlock; c++) {
          const s = nowS();
          await session.run(feeds);
          busy += nowS() - s;
        }
        rates.push(batch / (busy / perBlock));
      }
      rates.sort((a, b) => a - b);
      console.log(['ort', name, batch, threads, rates[Math.floor(reps / 2)].toFixed(0),
        rates[0].toFixed(0), rates[reps - 1].toFixed(0)].join('\t'));
    }
    await session.release();
  }
}

main().catch((err) => { console.error(`ort_peer: ${err.message}`); process.exit(1); });
