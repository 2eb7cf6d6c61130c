// The onnxruntime peer of bench/conv_cpu.c's forward passes: times one-Conv models
// (written by bench/make_conv_onnx.py) with the timing rule of bench/conv_shapes.py, in
// onnxruntime-node with the session options of bench/ort_infer.js.
// usage: node bench/ort_conv.js THREADS BATCHES MIN_SECONDS MIN_REPS MODEL.onnx...
//   BATCHES: comma-separated, e.g. 1,256; a model's name is its file name without .onnx.
// Prints "conv NAME batch B pass fwd median_ms X min_ms Y reps R" per model and batch.
// Each time includes onnxruntime-node's per-call cost (the asynchronous call into the
// native session, the output tensor), which weighs most on the smallest batch-1 shapes,
// and whatever layout conversions onnxruntime's optimiser puts around the Conv (in a
// whole network they are paid once per run, here once per convolution).
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'node', 'node_modules', 'onnxruntime-node'));

function fail(message) {
  console.error(`ort_conv: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const [threadsText, batchesText, secondsText, repsText, ...models] = argv;
  const threads = Number(threadsText), seconds = Number(secondsText), reps = Number(repsText);
  const batches = (batchesText || '').split(',').map(Number);
  if (!Number.isInteger(threads) || threads < 1) fail(`bad thread count '${threadsText}'`);
  if (!batches.every((b) => Number.isInteger(b) && b >= 1)) fail(`bad batch list '${batchesText}'`);
  if (!(seconds >= 0) || !Number.isInteger(reps) || reps < 1) fail('bad MIN_SECONDS or MIN_REPS');
  if (models.length === 0) fail('usage: node bench/ort_conv.js THREADS BATCHES MIN_SECONDS MIN_REPS MODEL.onnx...');
  return { threads, batches, seconds, reps, models };
}

// Median, minimum and count in milliseconds, as conv_shapes.time_calls.
async function timeCalls(call, minSeconds, minReps, maxReps = 100000) {
  await call();
  await call();
  const times = [];
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  while (times.length < maxReps && (times.length < minReps || elapsed() < minSeconds)) {
    const t0 = process.hrtime.bigint();
    await call();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  return { median, minimum: times[0], n };
}

function filled(count) {
  const data = new Float32Array(count);
  let seed = 12345;
  for (let i = 0; i < count; i++) { seed = (seed * 1103515245 + 12345) >>> 0; data[i] = seed / 4294967296 - 0.5; }
  return data;
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  console.log(`ort_conv: onnxruntime-node ${ort.env.versions ? ort.env.versions.common : ''}, ` +
              `threads ${opt.threads}, median of >= ${opt.reps} calls and >= ${opt.seconds} s`);
  for (const model of opt.models) {
    const name = path.basename(model, '.onnx');
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: opt.threads, interOpNumThreads: 1,
      graphOptimizationLevel: 'all', executionMode: 'sequential',
    });
    const meta = session.inputMetadata ? session.inputMetadata[0] : null;
    if (!meta || !meta.shape || meta.shape.length !== 4) fail(`${model}: no 4-d input shape`);
    const dims = meta.shape.slice(1).map(Number);
    if (!dims.every((d) => Number.isInteger(d) && d > 0)) fail(`${model}: input shape ${meta.shape}`);
    for (const batch of opt.batches) {
      const input = new ort.Tensor('float32', filled(batch * dims[0] * dims[1] * dims[2]), [batch, ...dims]);
      const feeds = { [session.inputNames[0]]: input };
      const t = await timeCalls(() => session.run(feeds), opt.seconds, opt.reps);
      console.log(`conv ${name} batch ${batch} pass fwd median_ms ${t.median.toFixed(4)} ` +
                  `min_ms ${t.minimum.toFixed(4)} reps ${t.n}`);
    }
    await session.release();
  }
}
main().catch((e) => { console.error(`ort_conv: ${e.message || e}`); process.exit(1); });
