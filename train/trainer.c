// Setting up a run (data, split, normalisation, network) and one epoch of
// stochastic-depth training: for every mini-batch one Bernoulli draw per block,
// then forward, backward and the SGD step over the open blocks only.
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_device.h"
#include "folder_data.h"
#include "timer.h"

static int load_data(Trainer *tr, char *err, size_t err_len) {
    const TrainOptions *opt = &tr->opt;
    int kind = dataset_kind_from_name(opt->dataset);
    const char *dir = opt->data_dir[0] ? opt->data_dir : dataset_default_dir((DatasetKind)kind);
    if (!dir) {
        snprintf(err, err_len, "--dataset %s needs --data DIR (no standard location)",
                 opt->dataset);
        return -1;
    }
    if (kind == DATASET_FOLDER) return folder_load_data(tr, dir, err, err_len);
    Rng split_rng;
    rng_seed(&split_rng, opt->seed, RNG_STREAM_SPLIT);
    if (kind == DATASET_SVHN) {  // the paper: 400/class of train + 200/class of extra
        if (dataset_load_svhn_pool(dir, &split_rng, 400, 200, &tr->train_set, &tr->train_idx,
                                   &tr->train_count, &tr->val_idx, &tr->val_count, err,
                                   err_len) != 0)
            return -1;
    } else {
        if (dataset_load((DatasetKind)kind, dir, SPLIT_TRAIN, &tr->train_set, err, err_len) != 0)
            return -1;
        int count = tr->train_set.count;
        if (opt->val_size >= count) {
            snprintf(err, err_len, "--val-size %d leaves no training images of %d", opt->val_size,
                     count);
            return -1;
        }
        tr->val_count = opt->val_size;
        tr->train_count = count - opt->val_size;
        tr->train_idx = malloc((size_t)tr->train_count * sizeof(uint32_t));
        tr->val_idx = malloc((size_t)(tr->val_count + 1) * sizeof(uint32_t));
        if (!tr->train_idx || !tr->val_idx) {
            snprintf(err, err_len, "out of memory for the split");
            return -1;
        }
        dataset_split_random(&split_rng, count, tr->val_count, tr->train_idx, tr->val_idx);
    }
    if (opt->train_limit > 0 && opt->train_limit < tr->train_count)
        tr->train_count = opt->train_limit;  // the split's order is random: a random subset
    if (dataset_load((DatasetKind)kind, dir, SPLIT_TEST, &tr->test_set, err, err_len) != 0)
        return -1;
    tr->test_count = tr->test_set.count;
    if (opt->test_limit > 0 && opt->test_limit < tr->test_count) tr->test_count = opt->test_limit;
    tr->test_idx = malloc((size_t)tr->test_count * sizeof(uint32_t));
    if (!tr->test_idx) {
        snprintf(err, err_len, "out of memory for the test indices");
        return -1;
    }
    for (int i = 0; i < tr->test_count; i++) tr->test_idx[i] = (uint32_t)i;
    if (tr->train_count < opt->batch_size) {
        snprintf(err, err_len, "only %d training images for --batch-size %d", tr->train_count,
                 opt->batch_size);
        return -1;
    }
    // Statistics from the training part only, as the Torch code.
    dataset_compute_normalization(&tr->train_set, tr->train_idx, tr->train_count, &tr->norm);
    tr->augment = opt->augment >= 0 ? opt->augment : dataset_default_augment((DatasetKind)kind);
    return 0;
}

static int alloc_staging(Trainer *tr, char *err, size_t err_len) {
    const Net *net = &tr->net;
    size_t image = (size_t)net->in_c * net->in_h * net->in_w;
    int batch = tr->opt.batch_size;
    if (loader_init(&tr->loader, tr->be, tr->opt.prefetch, batch, image, err, err_len) != 0)
        return -1;
    tr->gates = malloc((size_t)net->n_blocks);
    tr->order = malloc((size_t)(tr->train_count + 1) * sizeof(uint32_t));
    tr->host_logits = malloc((size_t)batch * net->n_classes * sizeof(real));
    const NetTensor *first_conv = net_find_tensor(net, "blocks.0.conv1.weight");
    tr->host_grad = malloc((first_conv ? first_conv->count : 1) * sizeof(real));
    if (!tr->gates || !tr->order || !tr->host_logits || !tr->host_grad) {
        snprintf(err, err_len, "out of host memory for the batch buffers");
        return -1;
    }
    return 0;
}

int trainer_setup(Trainer *tr, char *err, size_t err_len) {
    const TrainOptions *opt = &tr->opt;
    tr->best_val_error = 2;
    if (!tr->be) tr->be = dist_backend_create(opt, tr->dist, err, err_len);
    if (!tr->be) return -1;
    if (tr->be->set_precision(tr->be, opt->precision) != 0) {
        snprintf(err, err_len, "the %s backend does not offer --precision %s", tr->be->name,
                 opt->precision);
        return -1;
    }
    if (load_data(tr, err, err_len) != 0) return -1;
    Preset preset;
    if (preset_load(opt->model, opt->models_dir, &preset, err, err_len) != 0) return -1;
    const Dataset *ds = &tr->train_set;
    if (net_build(&tr->net, tr->be, &preset, ds->channels, ds->height, ds->width, ds->classes,
                  opt->batch_size, err, err_len) != 0)
        return -1;
    if (net_set_survival(&tr->net, opt->survival, opt->p_last) != 0) {
        snprintf(err, err_len, "unknown survival rule '%s'", opt->survival);
        return -1;
    }
    if (opt->cuda_graphs && !net_enable_recording(&tr->net))
        fprintf(stderr, "sdtrain: the %s backend cannot record CUDA graphs; --cuda-graphs has "
                        "no effect\n", tr->be->name);
    Rng init_rng;
    rng_seed(&init_rng, opt->seed, RNG_STREAM_INIT);
    net_init_params(&tr->net, &init_rng);
    rng_seed(&tr->shuffle_rng, opt->seed, RNG_STREAM_SHUFFLE);
    rng_seed(&tr->augment_rng, opt->seed, RNG_STREAM_AUGMENT);
    rng_seed(&tr->gate_rng, opt->seed, RNG_STREAM_GATES);
    if (alloc_staging(tr, err, err_len) != 0) return -1;
    return trainer_dist_setup(tr, err, err_len);
}

void trainer_free(Trainer *tr) {
    loader_free(&tr->loader);  // its staging belongs to the backend: before destroy
    trainer_dist_free(tr);
    if (tr->net.be) net_free(&tr->net);
    if (tr->be) tr->be->destroy(tr->be);
    dataset_free(&tr->train_set);
    dataset_free(&tr->test_set);
    free(tr->train_idx);
    free(tr->val_idx);
    free(tr->test_idx);
    free(tr->gates);
    free(tr->order);
    free(tr->host_logits);
    free(tr->host_grad);
    run_log_free(&tr->log);
    memset(tr, 0, sizeof *tr);
}

// Misclassified examples among the batch's logits (already on the host).
static int count_errors(const real *logits, const int32_t *labels, int batch, int classes) {
    int errors = 0;
    for (int i = 0; i < batch; i++) {
        const real *row = logits + (size_t)i * classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (row[c] > row[best]) best = c;
        errors += best != labels[i];
    }
    return errors;
}

double trainer_evaluate(Trainer *tr, const Dataset *ds, const uint32_t *indices, int count) {
    Net *net = &tr->net;
    int errors = 0;
    // Each rank evaluates its share (every rank holds rank 0's BN statistics by now);
    // the error counts are summed.
    const Dist *d = tr->dist;
    int first = (int)((long long)count * d->rank / d->size);
    int share = (int)((long long)count * (d->rank + 1) / d->size) - first;
    loader_start(&tr->loader, ds, indices + first, share, tr->opt.batch_size, 0, &tr->norm, 0,
                 NULL);
    const LoaderBatch *lb;
    while ((lb = loader_next(&tr->loader))) {
        net_set_batch(net, lb->images, NULL, lb->count);
        net_forward(net, lb->count, NULL, NET_EVAL);
        tr->be->download(tr->be, tr->host_logits, net->logits,
                         (size_t)lb->count * net->n_classes * sizeof(real));
        errors += count_errors(tr->host_logits, lb->labels, lb->count, net->n_classes);
        loader_release(&tr->loader);  // after the download: the upload has finished
    }
    loader_stop(&tr->loader);
    double total_errors = errors;
    dist_sum_doubles(tr->dist, &total_errors, 1);
    return count > 0 ? total_errors / count : 0;
}

// Mean |gradient| of the first block's first convolution (paper Fig. 7).
static double first_conv_grad_magnitude(Trainer *tr) {
    const NetTensor *t = net_find_tensor(&tr->net, "blocks.0.conv1.weight");
    if (!t) return 0;
    tr->be->download(tr->be, tr->host_grad, tr->net.grads + t->offset, t->count * sizeof(real));
    double sum = 0;
    for (size_t i = 0; i < t->count; i++) sum += fabs((double)tr->host_grad[i]);
    return sum / (double)t->count;
}

void trainer_train_epoch(Trainer *tr, int epoch, EpochStats *stats) {
    Net *net = &tr->net;
    const TrainOptions *opt = &tr->opt;
    int batch = opt->batch_size;  // this rank's part of the global batch
    int global_batch = batch * tr->dist->size;
    // Whole batches only: every step sees the same batch size (BN statistics
    // over a handful of leftover images would be noise).
    int n_batches = tr->train_count / global_batch;
    real lr = (real)options_lr_at_epoch(opt, epoch);
    memcpy(tr->order, tr->train_idx, (size_t)tr->train_count * sizeof(uint32_t));
    rng_shuffle_u32(&tr->shuffle_rng, tr->order, (uint32_t)tr->train_count);
    memset(stats, 0, sizeof *stats);
    double loss_sum = 0, grad_sum = 0;
    long long errors = 0, active_sum = 0, grad_steps = 0;
    double start = timer_seconds();
    // The loader thread makes batch b+1.. (and draws their augmentation) while the
    // device trains on batch b.
    if (tr->dist->size > 1) loader_set_slice(&tr->loader, tr->dist->rank * batch, batch);
    loader_start(&tr->loader, &tr->train_set, tr->order, n_batches * global_batch, global_batch, 1,
                 &tr->norm, tr->augment, &tr->augment_rng);
    for (int b = 0; b < n_batches; b++) {
        const LoaderBatch *lb = loader_next(&tr->loader);
        net_set_batch(net, lb->images, lb->labels, batch);
        net_draw_gates(net, &tr->gate_rng, tr->gates);
        if (trainer_dist_gates(tr) != 0) {  // every rank finds it in the same step
            stats->gates_differ_at_step = tr->steps_done + 1;
            loader_release(&tr->loader);
            n_batches = b;
            break;
        }
        for (int l = 0; l < net->n_blocks; l++) active_sum += tr->gates[l];
        net_forward(net, batch, tr->gates, NET_TRAIN);
        grad_sync_begin(&tr->grad_sync, tr->dist, net, tr->gates);
        net_backward(net, batch);
        grad_sync_finish(&tr->grad_sync);  // the mean over the ranks: the same on every rank
        if (opt->log_grad_magnitude && tr->gates[0]) {
            grad_sum += first_conv_grad_magnitude(tr);
            grad_steps++;
        }
        net_sgd_step(net, lr, (real)opt->momentum, (real)opt->weight_decay, opt->nesterov,
                     tr->steps_done == 0);
        tr->steps_done++;
        // The one synchronisation of a step: the loss (divergence check, progress)
        // and the logits (running train error). After it the batch's upload is done.
        real loss;
        tr->be->download(tr->be, &loss, net->loss, sizeof loss);
        tr->be->download(tr->be, tr->host_logits, net->logits,
                         (size_t)batch * net->n_classes * sizeof(real));
        double step_loss = (double)loss;
        double step_errors = count_errors(tr->host_logits, lb->labels, batch, net->n_classes);
        loader_release(&tr->loader);
        trainer_dist_step_totals(tr, &step_loss, &step_errors);  // the same on every rank
        if (!isfinite(step_loss)) {  // diverged: stop instead of training on NaN
            stats->diverged_at_step = b + 1;
            break;
        }
        loss_sum += step_loss;
        errors += (long long)step_errors;
        if (tr->dist->rank == 0) progress_batch(&tr->progress, b + 1, n_batches, loss_sum / (b + 1));
    }
    loader_stop(&tr->loader);
    double seconds = timer_seconds() - start;
    if (stats->diverged_at_step) n_batches = stats->diverged_at_step - 1;
    stats->loss = n_batches ? loss_sum / n_batches : 0;
    stats->train_error = n_batches ? (double)errors / ((double)n_batches * global_batch) : 0;
    stats->train_seconds = seconds;
    stats->images_per_second = seconds > 0 ? (double)n_batches * global_batch / seconds : 0;
    stats->mean_active_blocks = n_batches ? (double)active_sum / n_batches : 0;
    stats->grad_magnitude = grad_steps ? grad_sum / grad_steps : 0;
}
