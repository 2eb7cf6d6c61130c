// Runs ONNX models in onnxruntime-node (CPU) on raw float32 input files and writes
// each model's first output as raw float32.
//
//   node tests/onnx_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
//   node tests/onnx_run.js --jobs FILE     one "MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32"
//                                          per line: many models, one process
//
// Prints "ok MODEL: OUTPUT_NAME dims=[...]" per model that ran, "FAIL MODEL: message"
// per one that did not (and goes on with the next); exits 1 when any failed, 2 on a
// usage error, 3 when onnxruntime-node cannot be loaded (a test that expects a
// refusal checks the FAIL line: node's own crash exits 1 too).
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require(path.join(__dirname, 'node', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.error(`onnx_run.js: cannot load onnxruntime-node: ${e.message}`);
  process.exit(3);
}

function readFloats(inputPath, shapeText) {
  const dims = shapeText.split(',').map((d) => {
    const n = Number(d);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bad shape '${shapeText}'`);
    return n;
  });
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(inputPath);
  if (bytes.length !== count * 4)
    throw new Error(`${inputPath}: ${bytes.length} bytes, shape ${shapeText} needs ${count * 4}`);
  // Copy into an aligned buffer: Float32Array needs a 4-byte aligned offset.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes);
  return { dims, data };
}

async function runOne(modelPath, inputPath, shapeText, outputPath) {
  const { dims, data } = readFloats(inputPath, shapeText);
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  const results = await session.run(feeds);
  const name = session.outputNames[0];
  const out = results[name];
  if (out.type !== 'float32') throw new Error(`output ${name} has type ${out.type}`);
  fs.writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  return `${name} dims=[${out.dims.join(',')}]`;
}

async function main() {
  const args = process.argv.slice(2);
  let jobs;
  if (args[0] === '--jobs' && args.length === 2) {
    jobs = fs.readFileSync(args[1], 'utf8').split('\n').map((l) => l.trim()).filter((l) => l)
      .map((l) => l.split(/\s+/));
  } else if (args.length === 4) {
    jobs = [args];
  } else {
    console.error('usage: onnx_run.js MODEL INPUT.f32 N,C,H,W OUTPUT.f32 | --jobs FILE');
    process.exit(2);
  }
  let failed = 0;
  for (const job of jobs) {
    try {
      if (job.length !== 4) throw new Error(`job '${job.join(' ')}' needs 4 fields`);
      console.log(`ok ${job[0]}: ${await runOne(...job)}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${job[0]}: ${e.message}`);
    }
  }
  console.log(`onnxruntime ${ort.env.versions.common}: ${jobs.length - failed} of ${jobs.length} ran`);
  process.exit(failed ? 1 : 0);
}

main();
