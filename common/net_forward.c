// The forward pass: stem, residual blocks with their gates, head.
#include "net.h"
#include "net_recording.h"
#include "net_sync_bn.h"

static size_t geom_out_count(const ConvGeom *g, int batch) {
    return (size_t)batch * g->out_c * g->out_h * g->out_w;
}

// Conv -> BN (batch statistics in training, running statistics in evaluation) -> ReLU.
static void convbn_forward(Net *net, ConvBN *u, const real *x, int batch, NetMode mode) {
    Backend *be = net->be;
    ConvGeom g = u->geom;
    g.batch = batch;
    be->conv2d_forward(be, &g, x, net->params + u->weight, NULL, NULL, clamp_none(),
                       u->conv_out);
    BatchNormGeom bg = {batch, g.out_c, g.out_h * g.out_w};
    const real *gamma = net->params + u->gamma, *beta = net->params + u->beta;
    real *running_mean = net->bn_state + u->running_mean;
    real *running_var = net->bn_state + u->running_var;
    if (mode == NET_TRAIN && net->bn_sync)
        net_sync_bn_forward(net, u, &bg);
    else if (mode == NET_TRAIN)
        be->batchnorm_forward_train(be, &bg, u->conv_out, gamma, beta, net->bn_momentum,
                                    net->bn_eps, running_mean, running_var, u->save_mean,
                                    u->save_invstd, u->bn_out);
    else
        be->batchnorm_forward_eval(be, &bg, u->conv_out, gamma, beta, running_mean, running_var,
                                   net->bn_eps, u->bn_out);
    if (u->relu) be->relu_forward(be, geom_out_count(&g, batch), u->bn_out, u->bn_out);
}

// The shortcut's value: option A and projection write theirs, identity is x.
static const real *shortcut_forward(Net *net, Block *b, const real *x, int batch, NetMode mode) {
    if (b->shortcut_a) {
        net->be->shortcut_a_forward(net->be, batch, b->in_c, b->in_h, b->in_w, b->out_c, x,
                                    b->shortcut_out);
        return b->shortcut_out;
    }
    if (b->has_projection) {
        convbn_forward(net, &b->projection, x, batch, mode);
        return b->projection.bn_out;
    }
    return x;
}

typedef struct {
    Net *net;
    Block *b;
    const real *x;
    int batch;
    NetMode mode;
    real branch_scale;
} OpenBlockForward;

// H = ReLU(scale * f(x) + shortcut(x)) of an open block: device ops only (they may
// be recorded once and replayed, net_recording.h), merged in place in the last
// unit's output.
static void open_block_forward(void *arg) {
    OpenBlockForward *c = arg;
    Block *b = c->b;
    const real *shortcut = shortcut_forward(c->net, b, c->x, c->batch, c->mode);
    const real *h = c->x;
    for (int u = 0; u < b->n_units; u++) {
        convbn_forward(c->net, &b->units[u], h, c->batch, c->mode);
        h = b->units[u].bn_out;
    }
    size_t out_count = (size_t)c->batch * b->out_c * b->out_h * b->out_w;
    c->net->be->residual_forward(c->net->be, out_count, c->branch_scale, b->out, shortcut,
                                 b->out);
}

// Block l: the open branch as above, or just the shortcut when the gate is closed.
//
// A closed block with an identity or option-A shortcut returns the shortcut
// itself, without the ReLU that the Torch code applies after it: its input is
// the output of a ReLU (or an average of such outputs, padded with zeros), so
// it is non-negative, the ReLU is the identity, and the gradient mask it would
// apply in backward equals the mask of the upstream ReLU. The result is exact
// and the block costs no work. A projection shortcut can be negative, so there
// the ReLU is kept.
static const real *block_forward(Net *net, int l, const real *x, int batch, int gate_open,
                                 NetMode mode) {
    Block *b = &net->blocks[l];
    real *merged = b->units[b->n_units - 1].bn_out;
    b->active = mode == NET_EVAL || gate_open;
    if (!b->active) {
        const real *shortcut = shortcut_forward(net, b, x, batch, mode);
        if (b->has_projection) {
            size_t out_count = (size_t)batch * b->out_c * b->out_h * b->out_w;
            net->be->relu_forward(net->be, out_count, shortcut, merged);
            b->out = merged;
        } else {
            b->out = (real *)shortcut;
        }
        return b->out;
    }
    b->out = merged;
    // Paper eq. (5): the test-time branch is scaled by p_l.
    real branch_scale = mode == NET_EVAL ? (real)net->survival_prob[l] : 1;
    OpenBlockForward call = {net, b, x, batch, mode, branch_scale};
    if (mode == NET_TRAIN && batch == net->batch_max)  // fixed pointers and sizes: recordable
        net_run_block_work(net, l, BLOCK_FORWARD, x, NULL, open_block_forward, &call);
    else
        open_block_forward(&call);
    return merged;
}

static const real *stem_forward(Net *net, int batch, NetMode mode) {
    convbn_forward(net, &net->stem, net->input, batch, mode);
    if (!net->stem_pool) return net->stem.bn_out;
    PoolGeom pg = net->stem_pool_geom;
    pg.batch = batch;
    net->be->maxpool_forward(net->be, &pg, net->stem.bn_out, net->stem_pool_out);
    return net->stem_pool_out;
}

void net_forward(Net *net, int batch, const uint8_t *gates, NetMode mode) {
    Backend *be = net->be;
    const real *h = stem_forward(net, batch, mode);
    for (int l = 0; l < net->n_blocks; l++) {
        int gate_open = gates == NULL || gates[l];
        h = block_forward(net, l, h, batch, gate_open, mode);
    }
    be->global_avgpool_forward(be, batch, net->feat_c, net->feat_h * net->feat_w, h, net->pooled);
    be->fc_forward(be, batch, net->feat_c, net->n_classes, net->pooled, net->params + net->fc_weight,
                   net->params + net->fc_bias, net->logits);
}
