// The backward pass of the last NET_TRAIN forward, and the optimiser step.
//
// Gradients flow through three scratch buffers of the largest activation:
// grad_out holds d(loss)/d(block output), grad_in receives d(loss)/d(block
// input), grad_tmp holds the gradient at a convolution's output. After each
// block the roles of grad_out and grad_in swap. A closed identity block does
// nothing at all: the gradient stays where it is.
#include "net.h"
#include "net_recording.h"
#include "net_sync_bn.h"

typedef struct {
    real *out, *in, *tmp;
} GradBuffers;

// Backward through Conv -> BN (-> ReLU already undone by the caller).
// dy: gradient at the BN output; x: the conv input; dx: receives the gradient at
// x (NULL to skip it, for the stem). dy's buffer may be reused as dx.
static void convbn_backward(Net *net, ConvBN *u, const real *x, const real *dy, real *dx,
                            real *d_conv_out, int batch) {
    Backend *be = net->be;
    ConvGeom g = u->geom;
    g.batch = batch;
    BatchNormGeom bg = {batch, g.out_c, g.out_h * g.out_w};
    if (net->bn_sync)
        net_sync_bn_backward(net, u, &bg, dy, d_conv_out);
    else
        be->batchnorm_backward(be, &bg, u->conv_out, dy, net->params + u->gamma, u->save_mean,
                               u->save_invstd, net->bn_eps, d_conv_out, net->grads + u->gamma,
                               net->grads + u->beta);
    be->conv2d_backward_filter(be, &g, x, d_conv_out, net->grads + u->weight);
    if (dx) be->conv2d_backward_data(be, &g, net->params + u->weight, d_conv_out, dx);
}

static size_t unit_count(const ConvBN *u, int batch) {
    return (size_t)batch * u->geom.out_c * u->geom.out_h * u->geom.out_w;
}

// Backward through the branch f: from d(sum) in g->out to d(x) written into g->in.
static void branch_backward(Net *net, Block *b, const real *x, GradBuffers *g, int batch) {
    Backend *be = net->be;
    const real *dy = g->out;
    for (int u = b->n_units - 1; u >= 0; u--) {
        ConvBN *unit = &b->units[u];
        const real *unit_in = u == 0 ? x : b->units[u - 1].bn_out;
        convbn_backward(net, unit, unit_in, dy, g->in, g->tmp, batch);
        if (u > 0) {  // undo the previous unit's ReLU, in place
            be->relu_backward(be, unit_count(&b->units[u - 1], batch), b->units[u - 1].bn_out,
                              g->in, g->in);
            dy = g->in;
        }
    }
}

// d(loss)/d(x) of the shortcut added into g->in (which holds the branch's, or zeros).
static void shortcut_backward(Net *net, Block *b, const real *x, GradBuffers *g, int batch) {
    Backend *be = net->be;
    size_t in_count = (size_t)batch * b->in_c * b->in_h * b->in_w;
    if (b->shortcut_a) {
        be->shortcut_a_backward_accumulate(be, batch, b->in_c, b->in_h, b->in_w, b->out_c, g->out,
                                           g->in);
    } else if (b->has_projection) {
        // g->out is free once the projection's BN backward has read it.
        convbn_backward(net, &b->projection, x, g->out, g->out, g->tmp, batch);
        be->accumulate(be, in_count, g->out, g->in);
    } else {
        be->accumulate(be, in_count, g->out, g->in);
    }
}

typedef struct {
    Net *net;
    Block *b;
    const real *x;
    GradBuffers g;
    int batch;
} OpenBlockBackward;

// Backward of an open block: device ops only (recordable, net_recording.h).
static void open_block_backward(void *arg) {
    OpenBlockBackward *c = arg;
    Block *b = c->b;
    size_t out_count = (size_t)c->batch * b->out_c * b->out_h * b->out_w;
    // d(sum) = d(out) where out > 0
    c->net->be->relu_backward(c->net->be, out_count, b->out, c->g.out, c->g.out);
    branch_backward(c->net, b, c->x, &c->g, c->batch);
    shortcut_backward(c->net, b, c->x, &c->g, c->batch);
}

// Block l's backward; returns the buffer that holds d(loss)/d(block input) afterwards.
static real *block_backward(Net *net, int l, const real *x, GradBuffers *g, int batch) {
    Backend *be = net->be;
    Block *b = &net->blocks[l];
    if (!b->active && !b->has_projection && !b->shortcut_a) return g->out;  // identity: free
    if (b->active) {
        OpenBlockBackward call = {net, b, x, *g, batch};
        // The ops' pointers depend on x and on which buffer holds d(out): the key.
        if (batch == net->batch_max)
            net_run_block_work(net, l, BLOCK_BACKWARD, x, g->out, open_block_backward, &call);
        else
            open_block_backward(&call);
        return g->in;
    }
    if (b->has_projection) {  // closed: the merge ReLU after the projection is still there
        size_t out_count = (size_t)batch * b->out_c * b->out_h * b->out_w;
        be->relu_backward(be, out_count, b->out, g->out, g->out);
    }
    be->fill(be, g->in, (size_t)batch * b->in_c * b->in_h * b->in_w, 0);
    shortcut_backward(net, b, x, g, batch);
    return g->in;
}

static const real *block_input(const Net *net, int l) {
    if (l > 0) return net->blocks[l - 1].out;
    return net->stem_pool ? net->stem_pool_out : net->stem.bn_out;
}

void net_backward(Net *net, int batch) {
    Backend *be = net->be;
    // Closed blocks never write their gradients: zero them all once, up front.
    be->fill(be, net->grads, net->n_params, 0);
    be->softmax_cross_entropy(be, batch, net->n_classes, net->logits, net->labels, net->dlogits,
                              net->loss);
    be->fc_backward(be, batch, net->feat_c, net->n_classes, net->pooled,
                    net->params + net->fc_weight, net->dlogits, net->dpooled,
                    net->grads + net->fc_weight, net->grads + net->fc_bias);
    GradBuffers g = {net->grad_out, net->grad_in, net->grad_tmp};
    be->global_avgpool_backward(be, batch, net->feat_c, net->feat_h * net->feat_w, net->dpooled,
                                g.out);
    for (int l = net->n_blocks - 1; l >= 0; l--) {
        real *d_input = block_backward(net, l, block_input(net, l), &g, batch);
        if (d_input != g.out) {  // swap roles: the input gradient is the next block's output one
            g.in = g.out;
            g.out = d_input;
        }
        // Block l's parameter gradients are final now (no other block touches them).
        if (net->block_backward_done) net->block_backward_done(net->block_backward_ctx, l);
    }
    ConvBN *stem = &net->stem;
    if (net->stem_pool) {
        PoolGeom pg = net->stem_pool_geom;
        pg.batch = batch;
        be->maxpool_backward(be, &pg, stem->bn_out, net->stem_pool_out, g.out, g.in);
        real *swap = g.out;
        g.out = g.in;
        g.in = swap;
    }
    be->relu_backward(be, unit_count(stem, batch), stem->bn_out, g.out, g.out);
    convbn_backward(net, stem, net->input, g.out, NULL, g.tmp, batch);
}

void net_sgd_step(Net *net, real lr, real momentum, real weight_decay, int nesterov,
                  int first_step) {
    net->be->sgd_step(net->be, net->n_params, net->params, net->grads, net->momentum, lr, momentum,
                      weight_decay, nesterov, first_step);
}
