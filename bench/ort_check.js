#!/usr/bin/env node
// Loads ONNX files written by nadapt (e.g. a run's iter_*.onnx and final.onnx)
// in onnxruntime-node and compares its logits with nadapt's on the committed
// 256-image Fashion-MNIST sample (not a test: onnxruntime is not a
// dependency).  onnxruntime-node is loaded from $NAD_ORT_DIR (default
// /tmp/ortpeer; bench/run.sh sets it up there with npm).
//
//   node bench/ort_check.js RUN_DIR/final.onnx [more.onnx ...]
//
// Prints per file: "ok FILE max|diff| X top1-agree N/64", or the error.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ort = require(path.join(process.env.NAD_ORT_DIR || '/tmp/ortpeer', 'node_modules', 'onnxruntime-node'));
const src = path.resolve(__dirname, '..');
const nad = process.env.NAD || path.join(src, 'build', 'nadapt');

// The first 64 sample images, normalised as the fixtures were trained.
function images() {
  const raw = fs.readFileSync(path.join(src, 'examples/fixtures/fmnist_test256_images.npy'));
  const px = raw.subarray(raw.length - 256 * 784);
  const x = new Float32Array(64 * 784);
  for (let i = 0; i < x.length; i++) x[i] = (px[i] / 255 - 0.2860) / 0.3530;
  return x;
}

async function check(file, x) {
  const s = await ort.InferenceSession.create(file);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [64, 1, 28, 28]) });
  const y = out[s.outputNames[0]].data;
  // nadapt's predictions on the same images through `nadapt eval`'s engine
  const j = JSON.parse(execFileSync(nad, ['eval', file, '--data', path.join(src, 'examples/fixtures/fmnist_test256'),
    '--mean', '0.2860', '--std', '0.3530', '--limit', '64', '--json']).toString());
  let agree = 0;
  const labels = fs.readFileSync(path.join(src, 'examples/fixtures/fmnist_test256_labels.npy'));
  const lab = new BigInt64Array(labels.buffer.slice(labels.byteOffset + labels.length - 256 * 8,
    labels.byteOffset + labels.length)); // int64 labels

  let correct = 0;
  for (let i = 0; i < 64; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (y[i * 10 + k] > y[i * 10 + best]) best = k;
    correct += BigInt(best) === lab[i];
  }
  agree = correct === j.correct ? 'same' : `differs (${correct} vs ${j.correct})`;
  console.log(`ok ${file} onnxruntime top-1 ${correct}/64, nadapt ${j.correct}/64: ${agree}`);
}

(async () => {
  const x = images();
  let bad = 0;
  for (const f of process.argv.slice(2)) {
    try { await check(f, x); } catch (e) { bad++; console.log(`FAIL ${f}: ${e.message}`); }
  }
  process.exit(bad ? 1 : 0);
})();
