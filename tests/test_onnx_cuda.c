// sdinfer's plans on the CUDA backend: the PyTorch fixture (tests/fixtures/)
// planned on "cuda" must give PyTorch's logits within 1e-4 in fp32 (batch 4 and
// batch 7, folded and unfolded), and within a looser bound in tf32/fp16/bf16
// when the backend offers them. The executor is the same device-agnostic code
// the CPU tests run; this checks that nothing in it assumes host memory.
//
// Without a CUDA build or without a device this test reports one counted skip
// (tests/run.sh's closing line shows it).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../infer/onnx_graph.h"
#include "../infer/onnx_tensor.h"
#include "../infer/plan.h"
#include "harness.h"
#ifdef SD_WITH_CUDA
#include "../kernels/cuda/backend_cuda.h"
#endif

#ifdef SD_WITH_CUDA
// Max |got - want| / max |want| over the batch (images cycle through the fixture's 4).
static double relative_error(Backend *be, const OnnxGraph *graph, const HostTensor *input,
                             const HostTensor *logits, int batch, int fold, TestContext *t) {
    PlanOptions options = plan_default_options();
    options.batch_size = batch;
    options.fold_batchnorm = options.fuse_activations = fold;
    Plan *plan = NULL;
    char err[1024];
    if (plan_create(graph, be, &options, &plan, err, sizeof err) != LOAD_OK) {
        CHECK(t, 0, "plan on cuda: %s", err);
        return INFINITY;
    }
    size_t per_image = input->count / 4, classes = 10;
    real *images = malloc(per_image * (size_t)batch * sizeof(real));
    real *got = malloc(classes * (size_t)batch * sizeof(real));
    for (int i = 0; i < batch; i++)
        memcpy(images + i * per_image, input->floats + (i % 4) * per_image, per_image * sizeof(real));
    plan_upload_input(plan, 0, images);
    plan_run(plan);
    plan_download_tensor(plan, plan->outputs[0], got);
    double max_diff = 0, max_ref = 0;
    for (int i = 0; i < batch; i++)
        for (size_t c = 0; c < classes; c++) {
            double want = logits->floats[(i % 4) * classes + c];
            double diff = fabs(got[i * classes + c] - want);
            if (!(diff <= max_diff)) max_diff = isnan(diff) ? INFINITY : diff;
            if (fabs(want) > max_ref) max_ref = fabs(want);
        }
    CHECK(t, be->last_error(be, err, sizeof err) == 0, "device error: %s", err);
    free(images);
    free(got);
    plan_free(plan);
    return max_diff / max_ref;
}
#endif

int main(void) {
#ifndef SD_WITH_CUDA
    return test_skip_all("test_onnx_cuda", "built without CUDA; make CUDA=1");
#else
    if (backend_cuda_device_count() == 0) {
        return test_skip_all("test_onnx_cuda", "no CUDA device");
    }
    TestContext t = {"test_onnx_cuda", 0, 0, 0};
    char err[1024];
    OnnxGraph *graph = NULL;
    HostTensor *input = NULL, *logits = NULL;
    CHECK(&t, onnx_graph_load_file("tests/fixtures/tiny_resnet.onnx", &graph, err, sizeof err) ==
              LOAD_OK, "%s", err);
    CHECK(&t, onnx_tensor_read_file("tests/fixtures/tiny_resnet_input.pb", &input, err,
                                    sizeof err) == LOAD_OK, "%s", err);
    CHECK(&t, onnx_tensor_read_file("tests/fixtures/tiny_resnet_logits.pb", &logits, err,
                                    sizeof err) == LOAD_OK, "%s", err);
    Backend *be = backend_create("cuda", 0, err, sizeof err);
    CHECK(&t, be != NULL, "cuda backend: %s", err);
    if (be && graph && input && logits) {
        const int batches[2] = {4, 7};
        for (int b = 0; b < 2; b++)
            for (int fold = 0; fold <= 1; fold++) {
                double error = relative_error(be, graph, input, logits, batches[b], fold, &t);
                printf("fp32 batch %d fold %d: relative error %.3g\n", batches[b], fold, error);
                CHECK(&t, error <= 1e-4, "fp32 batch %d fold %d: relative error %.3g", batches[b],
                      fold, error);
            }
        // Reduced precisions: a loose bound (fp16 has an 11-bit mantissa).
        const char *precisions[3] = {"tf32", "bf16", "fp16"};
        const double bounds[3] = {5e-3, 5e-2, 1e-2};
        for (int p = 0; p < 3; p++) {
            if (be->set_precision(be, precisions[p]) != 0) {
                printf("%s: not offered by this backend\n", precisions[p]);
                continue;
            }
            double error = relative_error(be, graph, input, logits, 4, 1, &t);
            printf("%s batch 4: relative error %.3g\n", precisions[p], error);
            CHECK(&t, error <= bounds[p], "%s: relative error %.3g > %g", precisions[p], error,
                  bounds[p]);
        }
        be->set_precision(be, "fp32");
    }
    if (be) be->destroy(be);
    host_tensor_free(input);
    host_tensor_free(logits);
    onnx_graph_free(graph);
    return test_finish(&t);
#endif
}
