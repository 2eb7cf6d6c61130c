// The onnxruntime peer of `sdinfer --bench`: times N runs of one batch of a model.
// usage: node bench/ort_infer.js MODEL.onnx BATCH N THREADS
// Prints "images/s: X", "latency p50 ms: Y" and "latency p99 ms: Z".
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'node', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, batchText, runsText, threadsText] = process.argv.slice(2);
  const batch = parseInt(batchText, 10), runs = parseInt(runsText, 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: parseInt(threadsText, 10), interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const inputName = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape.slice(1).map(Number) : [1, 28, 28];
  const count = batch * dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  let seed = 12345;
  for (let i = 0; i < count; i++) { seed = (seed * 1103515245 + 12345) >>> 0; data[i] = seed / 4294967296 - 0.5; }
  const feeds = { [inputName]: new ort.Tensor('float32', data, [batch, ...dims]) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  times.sort((a, b) => a - b);
  const pick = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  console.log(`onnxruntime-node batch ${batch} runs ${runs} threads ${threadsText}`);
  console.log(`images/s: ${(runs * batch / total).toFixed(1)}`);
  console.log(`latency p50 ms: ${pick(0.5).toFixed(3)}`);
  console.log(`latency p99 ms: ${pick(0.99).toFixed(3)}`);
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
