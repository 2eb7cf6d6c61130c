// Memory for a plan: one device arena for every activation (graph inputs,
// intermediate tensors, outputs) and one device buffer for the constants.
//
// Activation memory is reused by liveness: each storage lives from the step
// that writes it to the last step that reads it, and two storages whose
// lifetimes overlap never share bytes. Placement is greedy, largest first, at
// the lowest offset that fits. Element-wise steps that allow aliasing (ReLU,
// the residual merge) write over an input that dies at that step.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_builder.h"

// Offsets are multiples of 256 bytes (coalesced access on GPUs, cache lines on CPUs).
#define ALIGN_ELEMENTS (256 / sizeof(real))

static size_t align_up(size_t count) {
    return (count + ALIGN_ELEMENTS - 1) / ALIGN_ELEMENTS * ALIGN_ELEMENTS;
}

typedef struct {
    size_t size;    // elements, aligned
    int first, last;  // step indices; -1 = before the first step, n_steps = after the last
    size_t offset;
} Storage;

typedef struct {
    PlanBuilder *b;
    int *root_storage;  // per tensor (only roots are used)
    int *define_step;   // per tensor: step writing it; -1 for graph inputs
    int *last_use;      // per tensor root
    char *needed;       // per tensor root
    Storage *storages;
    int n_storages;
} MemoryState;

// Refuses a plan needing more than options.max_memory_bytes, before allocating it.
static LoadStatus check_memory_limit(PlanBuilder *b, size_t weight_bytes, size_t activation_bytes) {
    size_t limit = b->options.max_memory_bytes;
    if (limit == 0 || (weight_bytes <= limit && activation_bytes <= limit - weight_bytes))
        return LOAD_OK;
    snprintf(b->err, b->err_len,
             "%s: the plan needs %.1f MiB (weights %.1f MiB + activations %.1f MiB at batch %d), "
             "more than the limit of %.1f MiB",
             b->graph->source, ((double)weight_bytes + (double)activation_bytes) / 1048576.0,
             (double)weight_bytes / 1048576.0, (double)activation_bytes / 1048576.0,
             b->plan->batch_size, (double)limit / 1048576.0);
    return LOAD_UNSUPPORTED;
}

static int root(const MemoryState *m, int tensor) { return m->b->alias[tensor]; }

static int is_final_output(const Plan *plan, int tensor) {
    for (int i = 0; i < plan->n_outputs; i++)
        if (plan->outputs[i] == tensor) return 1;
    return tensor == plan->probabilities;
}

// Removes steps whose results nothing reads (dead branches of the graph).
static void drop_dead_steps(MemoryState *m) {
    Plan *plan = m->b->plan;
    for (int t = 0; t < plan->n_tensors; t++)
        if (is_final_output(plan, t)) m->needed[root(m, t)] = 1;
    char *keep = calloc((size_t)plan->n_steps + 1, 1);
    if (!keep) return;  // keeping every step is always correct
    for (int s = plan->n_steps - 1; s >= 0; s--) {
        PlanStep *step = &plan->steps[s];
        if (!m->needed[root(m, step->output)]) continue;
        keep[s] = 1;
        for (int k = 0; k < step->n_inputs; k++)
            if (step->inputs[k] >= 0) m->needed[root(m, step->inputs[k])] = 1;
    }
    int kept = 0;
    for (int s = 0; s < plan->n_steps; s++) {
        if (keep[s]) plan->steps[kept++] = plan->steps[s];
        else free(plan->steps[s].inputs);
    }
    plan->n_steps = kept;
    free(keep);
}

static LoadStatus upload_constants(MemoryState *m) {
    PlanBuilder *b = m->b;
    Plan *plan = b->plan;
    size_t total = 0;
    for (int t = 0; t < plan->n_tensors; t++) {
        PlanTensor *tensor = &plan->tensors[t];
        if (!tensor->is_constant || !m->needed[t]) continue;
        if (!b->host_constant[t]) {
            snprintf(b->err, b->err_len, "%s: a non-float constant is used as a float tensor",
                     b->graph->source);
            return LOAD_UNSUPPORTED;
        }
        tensor->offset = total;
        total += align_up(tensor->count);
    }
    plan->stats.weight_bytes = total * sizeof(real);
    if (check_memory_limit(b, plan->stats.weight_bytes, 0) != LOAD_OK) return LOAD_UNSUPPORTED;
    if (total == 0) return LOAD_OK;
    plan->weights = b->be->alloc(b->be, total * sizeof(real));
    if (!plan->weights) {
        snprintf(b->err, b->err_len, "%s: cannot allocate %zu bytes of device memory for weights",
                 b->graph->source, total * sizeof(real));
        return LOAD_INVALID;
    }
    for (int t = 0; t < plan->n_tensors; t++) {
        PlanTensor *tensor = &plan->tensors[t];
        if (!tensor->is_constant || !m->needed[t]) continue;
        tensor->data = plan->weights + tensor->offset;
        b->be->upload(b->be, tensor->data, b->host_constant[t]->floats,
                      tensor->count * sizeof(real));
    }
    return LOAD_OK;
}

static int new_storage(MemoryState *m, size_t count, int first) {
    Storage *s = &m->storages[m->n_storages];
    *s = (Storage){.size = align_up(count), .first = first, .last = first};
    return m->n_storages++;
}

// An element-wise step may write over an input that dies at this step; a conv step
// over the residual it adds (input 3: the backend reads each element before it
// writes it).
static int reusable_input(const MemoryState *m, const PlanStep *step, int s) {
    const Plan *plan = m->b->plan;
    const int fused_conv = step->kind == STEP_CONV && step->n_inputs > 3;
    if (step->kind != STEP_RELU && step->kind != STEP_ADD_RELU && !fused_conv) return -1;
    size_t out_count = plan->tensors[step->output].count;
    for (int k = fused_conv ? 3 : 0; k < step->n_inputs; k++) {
        int r = root(m, step->inputs[k]);
        const PlanTensor *t = &plan->tensors[r];
        if (t->is_constant || m->define_step[r] < 0 || m->last_use[r] != s ||
            t->count != out_count || m->root_storage[r] < 0)
            continue;
        return m->root_storage[r];
    }
    return -1;
}

static void assign_storages(MemoryState *m) {
    Plan *plan = m->b->plan;
    int n_steps = plan->n_steps;
    for (int t = 0; t < plan->n_tensors; t++) {
        m->root_storage[t] = -1;
        m->define_step[t] = -2;  // never written
        m->last_use[t] = -1;
    }
    for (int i = 0; i < plan->n_inputs; i++) m->define_step[root(m, plan->inputs[i])] = -1;
    for (int s = 0; s < n_steps; s++) {
        const PlanStep *step = &plan->steps[s];
        m->define_step[root(m, step->output)] = s;
        for (int k = 0; k < step->n_inputs; k++)
            if (step->inputs[k] >= 0) m->last_use[root(m, step->inputs[k])] = s;
    }
    for (int t = 0; t < plan->n_tensors; t++)
        if (is_final_output(plan, t)) m->last_use[root(m, t)] = n_steps;
    for (int i = 0; i < plan->n_inputs; i++) {
        int r = root(m, plan->inputs[i]);
        if (m->root_storage[r] < 0) m->root_storage[r] = new_storage(m, plan->tensors[r].count, -1);
    }
    for (int s = 0; s < n_steps; s++) {
        const PlanStep *step = &plan->steps[s];
        int r = root(m, step->output);
        if (m->root_storage[r] >= 0) continue;
        int reuse = reusable_input(m, step, s);
        m->root_storage[r] = reuse >= 0 ? reuse : new_storage(m, plan->tensors[r].count, s);
    }
    // A storage lives from its first writer to the last reader of any tensor in it.
    for (int t = 0; t < plan->n_tensors; t++) {
        int storage = m->root_storage[t];
        if (storage < 0) continue;
        Storage *st = &m->storages[storage];
        if (m->define_step[t] < st->first) st->first = m->define_step[t];
        if (m->last_use[t] > st->last) st->last = m->last_use[t];
    }
}

static int compare_by_size(const void *a, const void *b) {
    const Storage *x = *(Storage *const *)a, *y = *(Storage *const *)b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static int compare_by_offset(const void *a, const void *b) {
    const Storage *x = *(Storage *const *)a, *y = *(Storage *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// Greedy placement; returns the arena size in elements (0 on allocation failure with *ok = 0).
static size_t place_storages(MemoryState *m, int *ok) {
    int n = m->n_storages;
    Storage **order = calloc((size_t)n + 1, sizeof *order);
    Storage **overlapping = calloc((size_t)n + 1, sizeof *overlapping);
    *ok = order && overlapping;
    size_t arena = 0;
    for (int i = 0; *ok && i < n; i++) order[i] = &m->storages[i];
    if (*ok) qsort(order, (size_t)n, sizeof *order, compare_by_size);
    for (int i = 0; *ok && i < n; i++) {
        Storage *s = order[i];
        int count = 0;
        for (int j = 0; j < i; j++)
            if (order[j]->first <= s->last && s->first <= order[j]->last)
                overlapping[count++] = order[j];
        qsort(overlapping, (size_t)count, sizeof *overlapping, compare_by_offset);
        size_t offset = 0;
        for (int j = 0; j < count; j++) {
            if (offset + s->size <= overlapping[j]->offset) break;  // fits in the gap
            size_t end = overlapping[j]->offset + overlapping[j]->size;
            if (end > offset) offset = end;
        }
        s->offset = offset;
        if (offset + s->size > arena) arena = offset + s->size;
    }
    free(order);
    free(overlapping);
    return arena;
}

static LoadStatus allocate_arena(MemoryState *m) {
    PlanBuilder *b = m->b;
    Plan *plan = b->plan;
    int ok;
    size_t arena = place_storages(m, &ok);
    if (!ok) {
        snprintf(b->err, b->err_len, "%s: out of memory while planning", b->graph->source);
        return LOAD_INVALID;
    }
    size_t naive = 0;
    for (int i = 0; i < m->n_storages; i++) naive += m->storages[i].size;
    plan->stats.activation_bytes = arena * sizeof(real);
    plan->stats.activation_naive_bytes = naive * sizeof(real);
    if (check_memory_limit(b, plan->stats.weight_bytes, plan->stats.activation_bytes) != LOAD_OK)
        return LOAD_UNSUPPORTED;
    if (arena > 0) {
        plan->arena = b->be->alloc(b->be, arena * sizeof(real));
        if (!plan->arena) {
            snprintf(b->err, b->err_len, "%s: cannot allocate %zu bytes of device memory for "
                     "activations", b->graph->source, arena * sizeof(real));
            return LOAD_INVALID;
        }
    }
    for (int t = 0; t < plan->n_tensors; t++) {
        PlanTensor *tensor = &plan->tensors[t];
        if (tensor->is_constant) continue;
        int storage = m->root_storage[root(m, t)];
        tensor->storage = storage;
        if (storage < 0) continue;  // never computed nor read
        tensor->offset = m->storages[storage].offset;
        tensor->data = plan->arena + tensor->offset;
    }
    return LOAD_OK;
}

LoadStatus plan_assign_memory(PlanBuilder *b) {
    Plan *plan = b->plan;
    size_t n = (size_t)plan->n_tensors + 1;
    MemoryState m = {.b = b};
    m.root_storage = calloc(n, sizeof(int));
    m.define_step = calloc(n, sizeof(int));
    m.last_use = calloc(n, sizeof(int));
    m.needed = calloc(n, 1);
    m.storages = calloc(n, sizeof(Storage));
    LoadStatus status = LOAD_OK;
    if (!m.root_storage || !m.define_step || !m.last_use || !m.needed || !m.storages) {
        snprintf(b->err, b->err_len, "%s: out of memory while planning", b->graph->source);
        status = LOAD_INVALID;
    }
    if (status == LOAD_OK) {
        for (int i = 0; i < plan->n_inputs; i++) m.needed[root(&m, plan->inputs[i])] = 1;
        drop_dead_steps(&m);
        status = upload_constants(&m);
    }
    if (status == LOAD_OK) {
        assign_storages(&m);
        status = allocate_arena(&m);
    }
    free(m.root_storage);
    free(m.define_step);
    free(m.last_use);
    free(m.needed);
    free(m.storages);
    return status;
}
